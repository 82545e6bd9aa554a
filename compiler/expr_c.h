// Typed expressions -> BPF C, for the code generator (codegen.cpp) and the
// lowering that plans each probe's programs (lower.cpp): the C spelling of
// BTF types, constants that CO-RE takes from the target kernel, and
// BodyWriter, which lowers one probe's expressions to straight-line C.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "compiler/btf.h"
#include "compiler/compiled.h"
#include "compiler/typed.h"

namespace rtd {

// "struct sock *" + "a2" -> "struct sock *a2"
std::string declare(const std::string& type, const std::string& name);

// The C spelling of a type as vmlinux.h declares it, or nothing for types
// C cannot name (pointers to anonymous structs).
std::optional<std::string> c_type(const Btf& btf, const Type& t);

// The scalar builtin of `size` bytes and `sign`edness (__s8 .. __u64).
Builtin scalar_of_size(std::uint32_t size, bool sign);

// The enumerator a constant takes from the target kernel through CO-RE: a
// kernel enumerator of a named enum of at most 32 bits. Anonymous enums
// (typedef-only ones included) cannot be named in C and keep this kernel's
// number, as does arithmetic the checker folded.
std::optional<EnumeratorUse> core_enumerator(const Btf& btf, const TExpr& e);

// The constant of `reason == X` (either way round), or null.
const TExpr* reason_constant(const TExpr& e);

// C that tests kfree_skb's reason argument (the C `reason` reads it) against
// one reason: the target kernel's value of its enumerator (false where the
// kernel lacks it: that enumerator names no drop there), else the number.
std::string reason_test(const std::string& reason, std::uint64_t value, const std::optional<EnumeratorUse>& u);

// Every CO-RE enumerator `e` uses; `required_only`: not those a '??'
// fallback stands in for where they are missing (TExpr::coalesce_fallback).
void collect_enumerators(const Btf& btf, const TExpr& e, std::set<EnumeratorUse>& out, bool required_only = false);

// The arguments a probe's expressions read, and whether they read `ret`.
struct ProbeUses {
    std::set<unsigned> args;
    bool ret = false;
};

ProbeUses uses_of(const TypedProbe& p);

// How many of a probe's arguments its programs read: those its expressions
// use, and for kfree_skb the reason and location every event carries. A
// tracepoint's later arguments (newer kernels add some) are then not read,
// so an object built on a newer kernel loads on an older one.
std::size_t arguments_read(const TypedProbe& p);

// The captures `e` reads, by name.
void collect_captures(const TExpr& e, std::set<std::string>& names);

// Writes one body function: typed expressions become straight-line C with
// temporaries, one CO-RE read per kernel load.
class BodyWriter {
public:
    BodyWriter(const Btf& btf, std::string& out) : btf_(btf), out_(out) {}

    struct Value {
        std::string c;
        bool lvalue = false;  // `c` names kernel memory that must be read
        Type type;
        std::string bit_parent;  // bitfields: pointer to the containing struct
        std::string bit_field;
        // The pointer the lvalue is reached through. Reads are done only when
        // it is not NULL: that is the value C would give (none), reads 0, and
        // the verifier refuses arithmetic on possibly-NULL trusted pointers
        // (tp_btf arguments that may be NULL).
        std::string guard;
        const std::string& guard_or_true() const
        {
            static const std::string always = "1";
            return guard.empty() ? always : guard;
        }
    };

    Value lower(const TExpr& e);
    std::string rvalue(const TExpr& e) { return load(lower(e)); }
    std::string load(const Value& v);
    // vmlinux.h marks every struct preserve_access_index, so plain member
    // accesses are CO-RE relocated; an explicit builtin here would nest
    // inside bpf_core_read's own, which clang refuses.
    static std::string address(const Value& v) { return "(&(" + v.c + "))"; }

    // Lowered captures by name: a local for scalars, the kernel lvalue for
    // char arrays (copied into the event as strings).
    std::map<std::string, Value> captures;

private:
    std::string temp();
    std::string c_or_typeof(const Type& t, const std::string& expr);
    std::string binary(const TExpr& e);
    Value with_fallback(const TExpr& e);

    const Btf& btf_;
    std::string& out_;
    unsigned next_ = 0;
    bool falling_back_ = false;  // lowering the alternative with_fallback guards
};

}  // namespace rtd
