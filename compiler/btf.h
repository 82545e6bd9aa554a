// The kernel's types, read from BTF (libbpf): functions with argument
// names, tracepoint arguments, structs/unions with anonymous members and
// bitfields, enums and their enumerators, arrays. The type checker asks it
// questions; nothing else in the compiler touches libbpf's BTF API but
// btf_modules.cpp, which reads kernel modules' BTF for it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct btf;

namespace rtd {

// Scalars that are not BTF types: literals, results of comparisons, casts
// to u8..s64 and bool.
enum class Builtin : std::uint8_t { None, U8, U16, U32, U64, S8, S16, S32, S64, Bool };
std::optional<Builtin> builtin_from_name(const std::string& canonical);  // "u32" -> U32
const char* builtin_c_name(Builtin b);                                  // U32 -> "__u32"
const char* builtin_rule_name(Builtin b);                               // U32 -> "u32"

// Whether `symbol` is the function `name` or a compiler-made clone of it
// (GCC's name.isra.0, name.constprop.0, name.part.0, name.cold).
bool is_function_or_clone(std::string_view symbol, std::string_view name);

struct ModuleBtfFile;  // compiler/btf_modules.h

// A type as the checker sees it: a BTF type with typedefs and qualifiers
// stripped, or a builtin scalar, plus a number of pointer levels.
struct Type {
    std::uint32_t base = 0;  // resolved BTF id; 0 = void (or a builtin when builtin != None)
    Builtin builtin = Builtin::None;
    std::uint8_t depth = 0;  // pointer levels
    std::uint32_t named = 0;  // the typedef naming `base` (u32, atomic_t), for spelling only

    bool operator==(const Type& o) const { return base == o.base && builtin == o.builtin && depth == o.depth; }
    bool is_pointer() const { return depth > 0; }
    Type pointee() const { return {base, builtin, static_cast<std::uint8_t>(depth - 1), named}; }
    static Type of(Builtin b) { return {0, b, 0, 0}; }
};

class Btf {
public:
    // Raw BTF or an ELF file with a .BTF section. Empty on failure, with `error` set.
    static std::unique_ptr<Btf> load(const std::string& path, std::string& error);
    // Kernel modules' BTF merged on top of `kernel` (vmlinux's): every kernel
    // type keeps its id, the modules' functions and types (ipt_do_table,
    // struct xt_table) become visible, and a type several modules carry is
    // kept once. Empty on failure, with `error` naming the module file.
    // Defined in btf_modules.cpp, with the reading of module files.
    static std::unique_ptr<Btf> with_modules(std::unique_ptr<Btf> kernel, const std::vector<ModuleBtfFile>& modules,
                                             std::string& error);
    ~Btf();
    Btf(const Btf&) = delete;
    Btf& operator=(const Btf&) = delete;

    const std::string& path() const { return path_; }
    const struct btf* raw() const { return btf_; }

    // ---- types -------------------------------------------------------------
    Type type_of(std::uint32_t id) const;  // strips typedefs, qualifiers, counts pointers
    std::string spelling(const Type& t) const;  // C spelling: "struct sock *", "u32", "enum x"
    bool is_void(const Type& t) const { return t.depth == 0 && t.base == 0 && t.builtin == Builtin::None; }
    bool is_integer(const Type& t) const;       // ints, bools, chars, builtins
    bool is_enum(const Type& t) const;
    bool is_struct_or_union(const Type& t) const;
    bool is_array(const Type& t) const;
    bool is_func_proto(const Type& t) const;
    bool is_scalar(const Type& t) const { return t.is_pointer() || is_integer(t) || is_enum(t); }
    bool is_char_array(const Type& t) const;    // char[N] (printed as a string)
    bool is_char_pointer(const Type& t) const;  // char * (printed as the string it points to)
    bool is_signed(const Type& t) const;        // integers and enums
    std::uint32_t size(const Type& t) const;    // bytes; pointers are 8
    std::optional<Type> array_element(const Type& t) const;
    std::uint32_t array_length(const Type& t) const;
    std::string enum_name(const Type& t) const;  // "skb_drop_reason" for an enum type

    // struct/union/enum by name (as written after the keyword).
    enum class Tag { Struct, Union, Enum };
    std::optional<Type> find_tagged(Tag tag, const std::string& name) const;
    std::vector<std::string> tagged_names(Tag tag) const;

    struct Member {
        std::string name;
        Type type;
        std::uint32_t bit_offset = 0;     // from the start of the outer aggregate
        std::uint32_t bitfield_size = 0;  // 0 unless a bitfield
    };
    // Looks through anonymous struct/union members as C does.
    std::optional<Member> member(const Type& aggregate, const std::string& name) const;
    std::vector<std::string> member_names(const Type& aggregate) const;

    // ---- functions and tracepoints ------------------------------------------
    struct Param {
        std::string name;  // empty when BTF has none
        Type type;
    };
    struct Signature {
        std::string symbol;  // the name found (may carry a .isra.N-style suffix)
        std::vector<Param> params;
        Type ret;
    };
    // A kernel function by name, or by a compiler-suffixed variant of it.
    std::optional<Signature> function(const std::string& name) const;
    // The arguments of tracepoint NAME (without the leading context pointer).
    std::optional<Signature> tracepoint(const std::string& event) const;
    const std::vector<std::string>& function_names() const;
    // The module whose BTF the function `name` (or its clone) came from, for
    // messages ("ipt_do_table (module ip_tables)"); "" for vmlinux's own.
    std::string module_of_function(const std::string& name) const;

    // ---- enumerators --------------------------------------------------------
    struct Enumerator {
        Type type;  // the enum it belongs to
        std::uint64_t value = 0;
    };
    std::optional<Enumerator> enumerator(const std::string& name) const;
    // Enumerators sharing the name's prefix up to its last '_' (for suggestions).
    std::vector<std::string> enumerators_like(const std::string& name) const;
    // The enumerator of `enum_type` with `value`, or empty.
    std::string enumerator_name(const Type& enum_type, std::uint64_t value) const;
    // All (name, value) pairs of an enum type.
    std::vector<std::pair<std::string, std::uint64_t>> enumerators_of(const Type& enum_type) const;

private:
    Btf(struct btf* b, std::string path) : btf_(b), path_(std::move(path)) {}
    // Why a file's names may not reach generated C, or "" (see btf.cpp).
    static std::string unsafe_name(const struct btf* b);
    void index() const;
    // The indexes' keys point into the BTF's memory, which libbpf may move (see with_modules).
    void forget_index() const
    {
        indexed_ = false;
        funcs_.clear();
        func_names_.clear();
        func_name_copies_.clear();
        enumerators_.clear();
        enumerator_names_.clear();
    }
    std::optional<Signature> signature(std::uint32_t proto_id, std::string symbol, bool skip_first) const;
    // `depth` bounds anonymous members inside anonymous members: a BTF file
    // may be hostile and make a struct its own anonymous member.
    void collect_members(std::uint32_t id, std::vector<std::string>& out, int depth = 0) const;
    std::optional<Member> find_member(std::uint32_t id, const std::string& name, std::uint32_t base_bits, int depth = 0) const;

    struct btf* btf_;
    std::string path_;
    std::unique_ptr<Btf> base_;  // split BTF (modules') is read on top of this
    std::unordered_map<std::string, std::string> function_modules_;  // module functions -> module name
    // Name indexes, built on first use.
    mutable bool indexed_ = false;
    // Keys point into the BTF's string section, which lives as long as we do.
    mutable std::unordered_map<std::string_view, std::uint32_t> funcs_;
    mutable std::vector<std::string_view> func_names_;  // sorted
    mutable std::vector<std::string> func_name_copies_;   // built on demand for suggestions
    mutable std::unordered_map<std::string_view, std::pair<std::uint32_t, std::uint64_t>> enumerators_;
    mutable std::vector<std::string_view> enumerator_names_;
};

}  // namespace rtd
