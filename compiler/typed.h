// Typed rules: the type checker's output and the code generator's input.
// Each (rule, probe) pair gets its own typed expressions, because a probe
// decides what each name means and which '??' alternative applies.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compiler/ast.h"
#include "compiler/btf.h"

namespace rtd {

enum class TKind { Const, Arg, Ret, Capture, Member, Index, Unary, Binary, Cast };

struct TExpr;
using TExprPtr = std::unique_ptr<TExpr>;

struct TExpr {
    TKind kind = TKind::Const;
    Type type;
    SourceRange range;

    std::uint64_t value = 0;       // Const
    // Const: the kernel enumerator it was spelled as (SKB_DROP_REASON_...),
    // so the code generator can let CO-RE fix the number on each kernel.
    // Empty for literals and constants.
    std::string enumerator;
    unsigned arg = 0;              // Arg: parameter index
    std::string name;              // Arg, Capture, Member (field)
    bool through_pointer = false;  // Member: the base is a pointer ('->')
    std::uint32_t bitfield_size = 0;
    UnaryOp unary_op = UnaryOp::Not;
    BinaryOp binary_op = BinaryOp::Add;
    // Member: {base}; Index: {base, index}; Unary: {operand}; Binary: {lhs, rhs}; Cast: {operand}
    std::vector<TExprPtr> kids;
    // Set on the alternative a '??' took when a later one is a constant
    // (`reason == X ?? 0`) and this one reads no kernel memory: a kernel
    // without the enumerators it names (a built object run elsewhere) gets
    // the constant instead, tested in the code, so they are not required.
    std::optional<std::uint64_t> coalesce_fallback;
};

// Whether `e` reads only arguments, `ret` and constants (no kernel memory,
// no capture): what a '??' fallback may stand in for.
bool reads_no_memory(const TExpr& e);

// How a capture is stored in an event and printed.
enum class ValueKind : std::uint8_t { Signed, Unsigned, Enum, String, Pointer };
const char* value_kind_name(ValueKind k);

struct CaptureSchema {
    std::string name;
    ValueKind kind = ValueKind::Signed;
    std::uint32_t size = 8;   // bytes in the event (strings: their buffer)
    std::string enum_name;    // Enum: the kernel enum, for decoding
    bool enum_signed = false;
};

struct TypedProbe {
    const Probe* probe = nullptr;
    bool available = false;
    std::string skip_reason;     // why it cannot be used on this kernel
    Btf::Signature signature;    // arguments (and return type)
    std::vector<TExprPtr> captures;  // aligned with the rule's captures
    TExprPtr condition;          // may be null (every hit is a drop)
    TExprPtr noise;              // may be null
    TExprPtr packet;             // may be null
    std::vector<std::string> choices;  // '??' decisions, for explain
};

struct TypedRule {
    const RuleDecl* decl = nullptr;
    std::vector<TypedProbe> probes;
    std::vector<CaptureSchema> captures;    // aligned with decl->captures
    std::vector<std::size_t> capture_order;  // evaluation order (dependencies first)
    bool skipped = false;                    // no probe is usable on this kernel
};

}  // namespace rtd
