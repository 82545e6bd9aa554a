#include "compiler/btf.h"
#include "compiler/source.h"

#include <bpf/btf.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace rtd {

namespace {

constexpr int kMaxAnonymousNesting = 16;  // the kernel's deepest is 4

const struct btf_type* type_at(const struct btf* b, std::uint32_t id) { return btf__type_by_id(b, id); }

// `dots`: function names may carry compiler clone suffixes
// ("x.isra.0"); they are only ever emitted inside SEC("kprobe/...").
// ASCII only, whatever the locale (and without its per-character cost:
// a kernel's BTF has about a million names).
constexpr bool is_alpha_(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_c_identifier(const char* s, bool dots = false)
{
    if (!*s) return true;  // anonymous
    if (!is_alpha_(*s)) return false;
    for (++s; *s; ++s)
        if (!(is_alpha_(*s) || is_digit(*s) || (dots && *s == '.'))) return false;
    return true;
}

std::string name_of(const struct btf* b, const struct btf_type* t) { return btf__name_by_offset(b, t->name_off); }

bool is_qualifier_or_typedef(const struct btf_type* t)
{
    return btf_is_typedef(t) || btf_is_const(t) || btf_is_volatile(t) || btf_is_restrict(t) || btf_is_type_tag(t);
}

// Whether `t`, not a pointer and neither void nor a builtin, is a BTF type of the kind `is_kind` tests.
bool plain_type_is(const struct btf* b, const Type& t, bool (*is_kind)(const struct btf_type*))
{
    const struct btf_type* bt = t.depth == 0 && t.base ? type_at(b, t.base) : nullptr;
    return bt && is_kind(bt);
}

// A one-byte integer that is a char (by encoding, or by name: the kernel's
// BTF marks only plain `char` as one).
bool is_char(const struct btf* b, const struct btf_type* t)
{
    if (!btf_is_int(t) || t->size != 1) return false;
    return (btf_int_encoding(t) & BTF_INT_CHAR) || name_of(b, t).find("char") != std::string::npos;
}

struct BuiltinNames {
    Builtin builtin;
    const char* c_name;
    const char* rule_name;
};
constexpr BuiltinNames kBuiltins[] = {
    {Builtin::U8, "__u8", "u8"},    {Builtin::U16, "__u16", "u16"}, {Builtin::U32, "__u32", "u32"},
    {Builtin::U64, "__u64", "u64"}, {Builtin::S8, "__s8", "s8"},    {Builtin::S16, "__s16", "s16"},
    {Builtin::S32, "__s32", "s32"}, {Builtin::S64, "__s64", "s64"}, {Builtin::Bool, "__u8", "bool"},
};

const BuiltinNames* names_of(Builtin b)
{
    for (const BuiltinNames& n : kBuiltins)
        if (n.builtin == b) return &n;
    return nullptr;
}

}  // namespace

// Names from BTF end up in generated C (struct, member, function and
// enumerator names): a file whose names are not C identifiers is refused,
// so that nothing but an identifier can reach the code from it. Integer,
// float, section and variable names are never emitted and not checked.
std::string Btf::unsafe_name(const struct btf* b)
{
    const std::uint32_t first = btf__base_btf(b) ? btf__type_cnt(btf__base_btf(b)) : 1;
    for (std::uint32_t id = first; id < btf__type_cnt(b); ++id) {
        const struct btf_type* t = type_at(b, id);
        auto bad = [&](std::uint32_t off, bool dots = false) -> std::string {
            const char* n = btf__name_by_offset(b, off);
            if (!n) return fmt::format("type #{} has a name outside the string section", id);
            if (is_c_identifier(n, dots)) return {};
            return fmt::format("type #{} has the name \"{}\", which is not a C identifier", id, printable(std::string_view(n).substr(0, 60)));
        };
        std::string why;
        if (btf_is_composite(t) || btf_is_any_enum(t) || btf_is_fwd(t) || btf_is_typedef(t) || btf_is_func(t))
            why = bad(t->name_off, btf_is_func(t));
        if (why.empty() && btf_is_composite(t)) {
            const struct btf_member* m = btf_members(t);
            for (int i = 0; i < btf_vlen(t) && why.empty(); ++i, ++m) why = bad(m->name_off);
        } else if (why.empty() && btf_is_enum(t)) {
            const struct btf_enum* e = btf_enum(t);
            for (int i = 0; i < btf_vlen(t) && why.empty(); ++i, ++e) why = bad(e->name_off);
        } else if (why.empty() && btf_is_enum64(t)) {
            const struct btf_enum64* e = btf_enum64(t);
            for (int i = 0; i < btf_vlen(t) && why.empty(); ++i, ++e) why = bad(e->name_off);
        } else if (why.empty() && btf_is_func_proto(t)) {
            const struct btf_param* p = btf_params(t);
            for (int i = 0; i < btf_vlen(t) && why.empty(); ++i, ++p) why = bad(p->name_off);
        }
        if (!why.empty()) return why;
    }
    return {};
}

bool is_function_or_clone(std::string_view symbol, std::string_view name)
{
    if (symbol.substr(0, name.size()) != name) return false;
    const std::string_view suffix = symbol.substr(name.size());
    if (suffix.empty()) return true;
    for (std::string_view clone : {".isra.", ".constprop.", ".part.", ".cold", ".llvm."})
        if (suffix.substr(0, clone.size()) == clone) return true;
    return false;
}

std::optional<Builtin> builtin_from_name(const std::string& n)
{
    for (const BuiltinNames& b : kBuiltins)
        if (n == b.rule_name) return b.builtin;
    return std::nullopt;
}

const char* builtin_c_name(Builtin b)
{
    const BuiltinNames* n = names_of(b);
    return n ? n->c_name : "void";
}

const char* builtin_rule_name(Builtin b)
{
    const BuiltinNames* n = names_of(b);
    return n ? n->rule_name : "void";
}

std::unique_ptr<Btf> Btf::load(const std::string& path, std::string& error)
{
    // btf__parse takes raw BTF and ELF files with a .BTF section alike.
    struct btf* b = btf__parse(path.c_str(), nullptr);
    if (!b) {
        int err = errno;
        error = err == ENOENT ? "no such file" : err == ENODATA ? "no BTF data in the file" : std::strerror(err);
        return nullptr;
    }
    if (std::string why = unsafe_name(b); !why.empty()) {
        btf__free(b);
        error = "refused: " + why;
        return nullptr;
    }
    return std::unique_ptr<Btf>(new Btf(b, path));
}

Btf::~Btf() { btf__free(btf_); }

Type Btf::type_of(std::uint32_t id) const
{
    Type t;
    for (int guard = 0; guard < 64 && id != 0; ++guard) {
        const struct btf_type* bt = type_at(btf_, id);
        if (!bt) return t;
        if (is_qualifier_or_typedef(bt)) {
            if (btf_is_typedef(bt) && !t.named) t.named = id;
            id = bt->type;
        } else if (btf_is_ptr(bt)) {
            ++t.depth;
            t.named = 0;  // a typedef of a pointer does not name what it points to
            id = bt->type;
        } else {
            break;
        }
    }
    // A forward declaration stands for the complete type of the same name
    // (BTF writers may emit one for a struct only seen through pointers).
    if (const struct btf_type* bt = id ? type_at(btf_, id) : nullptr; bt && btf_is_fwd(bt)) {
        __s32 full = btf__find_by_name_kind(btf_, btf__name_by_offset(btf_, bt->name_off),
                                            btf_kflag(bt) ? BTF_KIND_UNION : BTF_KIND_STRUCT);
        if (full > 0) id = static_cast<std::uint32_t>(full);
    }
    t.base = id;
    return t;
}

std::string Btf::spelling(const Type& t) const
{
    std::string s;
    if (t.builtin != Builtin::None) {
        s = builtin_rule_name(t.builtin);
    } else if (t.named) {
        s = name_of(btf_, type_at(btf_, t.named));
    } else if (t.base == 0) {
        s = "void";
    } else {
        const struct btf_type* bt = type_at(btf_, t.base);
        std::string n = name_of(btf_, bt);
        if (btf_is_struct(bt)) s = "struct " + (n.empty() ? "(anonymous)" : n);
        else if (btf_is_union(bt)) s = "union " + (n.empty() ? "(anonymous)" : n);
        else if (btf_is_any_enum(bt)) s = "enum " + (n.empty() ? "(anonymous)" : n);
        else if (btf_is_array(bt)) {
            const struct btf_array* a = btf_array(bt);
            s = fmt::format("{}[{}]", spelling(type_of(a->type)), a->nelems);
        } else if (btf_is_func_proto(bt)) s = "function";
        else s = n;
    }
    if (t.depth > 0) s += ' ' + std::string(t.depth, '*');
    return s;
}

bool Btf::is_integer(const Type& t) const
{
    if (t.depth > 0) return false;
    if (t.builtin != Builtin::None) return true;
    const struct btf_type* bt = t.base ? type_at(btf_, t.base) : nullptr;
    return bt && btf_is_int(bt);
}

bool Btf::is_enum(const Type& t) const { return plain_type_is(btf_, t, btf_is_any_enum); }
bool Btf::is_struct_or_union(const Type& t) const { return plain_type_is(btf_, t, btf_is_composite); }
bool Btf::is_array(const Type& t) const { return plain_type_is(btf_, t, btf_is_array); }
bool Btf::is_func_proto(const Type& t) const { return plain_type_is(btf_, t, btf_is_func_proto); }

bool Btf::is_char_pointer(const Type& t) const
{
    const struct btf_type* bt = t.depth == 1 && t.base ? type_at(btf_, t.base) : nullptr;
    return bt && is_char(btf_, bt);
}

bool Btf::is_char_array(const Type& t) const
{
    auto e = array_element(t);
    const struct btf_type* bt = e && e->depth == 0 && e->base ? type_at(btf_, e->base) : nullptr;
    return bt && is_char(btf_, bt);
}

bool Btf::is_signed(const Type& t) const
{
    if (t.depth > 0) return false;
    switch (t.builtin) {
    case Builtin::S8:
    case Builtin::S16:
    case Builtin::S32:
    case Builtin::S64: return true;
    case Builtin::None: break;
    default: return false;
    }
    const struct btf_type* bt = t.base ? type_at(btf_, t.base) : nullptr;
    if (!bt) return false;
    if (btf_is_int(bt)) return btf_int_encoding(bt) & BTF_INT_SIGNED;
    if (btf_is_any_enum(bt)) return btf_kflag(bt);
    return false;
}

std::uint32_t Btf::size(const Type& t) const
{
    if (t.depth > 0) return 8;
    switch (t.builtin) {
    case Builtin::U8:
    case Builtin::S8:
    case Builtin::Bool: return 1;
    case Builtin::U16:
    case Builtin::S16: return 2;
    case Builtin::U32:
    case Builtin::S32: return 4;
    case Builtin::U64:
    case Builtin::S64: return 8;
    case Builtin::None: break;
    }
    if (t.base == 0) return 0;
    __s64 s = btf__resolve_size(btf_, t.base);
    return s < 0 ? 0 : static_cast<std::uint32_t>(s);
}

std::optional<Type> Btf::array_element(const Type& t) const
{
    if (!is_array(t)) return std::nullopt;
    return type_of(btf_array(type_at(btf_, t.base))->type);
}

std::uint32_t Btf::array_length(const Type& t) const
{
    return is_array(t) ? btf_array(type_at(btf_, t.base))->nelems : 0;
}

std::string Btf::enum_name(const Type& t) const
{
    return is_enum(t) ? name_of(btf_, type_at(btf_, t.base)) : std::string();
}

std::optional<Type> Btf::find_tagged(Tag tag, const std::string& name) const
{
    auto find = [&](int kind) -> std::optional<Type> {
        __s32 id = btf__find_by_name_kind(btf_, name.c_str(), kind);
        if (id <= 0) return std::nullopt;
        return Type{static_cast<std::uint32_t>(id), Builtin::None, 0, 0};
    };
    switch (tag) {
    case Tag::Struct: return find(BTF_KIND_STRUCT);
    case Tag::Union: return find(BTF_KIND_UNION);
    case Tag::Enum: {
        auto e = find(BTF_KIND_ENUM);
        return e ? e : find(BTF_KIND_ENUM64);
    }
    }
    return std::nullopt;
}

std::vector<std::string> Btf::tagged_names(Tag tag) const
{
    std::vector<std::string> out;
    const std::uint32_t n = btf__type_cnt(btf_);
    for (std::uint32_t id = 1; id < n; ++id) {
        const struct btf_type* bt = type_at(btf_, id);
        bool match = tag == Tag::Struct ? btf_is_struct(bt) : tag == Tag::Union ? btf_is_union(bt) : btf_is_any_enum(bt);
        if (match && bt->name_off) out.push_back(name_of(btf_, bt));
    }
    return out;
}

std::optional<Btf::Member> Btf::find_member(std::uint32_t id, const std::string& name, std::uint32_t base_bits, int depth) const
{
    const struct btf_type* bt = type_at(btf_, id);
    if (!bt || !btf_is_composite(bt) || depth > kMaxAnonymousNesting) return std::nullopt;
    const struct btf_member* m = btf_members(bt);
    for (int i = 0; i < btf_vlen(bt); ++i, ++m) {
        std::string mname = btf__name_by_offset(btf_, m->name_off);
        std::uint32_t offset = base_bits + btf_member_bit_offset(bt, i);
        if (mname.empty()) {
            // An anonymous struct/union: its members are members of ours.
            Type inner = type_of(m->type);
            if (inner.depth == 0 && is_struct_or_union(inner))
                if (auto found = find_member(inner.base, name, offset, depth + 1)) return found;
        } else if (mname == name) {
            return Member{mname, type_of(m->type), offset, btf_member_bitfield_size(bt, i)};
        }
    }
    return std::nullopt;
}

std::optional<Btf::Member> Btf::member(const Type& aggregate, const std::string& name) const
{
    if (!is_struct_or_union(aggregate)) return std::nullopt;
    return find_member(aggregate.base, name, 0);
}

void Btf::collect_members(std::uint32_t id, std::vector<std::string>& out, int depth) const
{
    const struct btf_type* bt = type_at(btf_, id);
    if (!bt || !btf_is_composite(bt) || depth > kMaxAnonymousNesting) return;
    const struct btf_member* m = btf_members(bt);
    for (int i = 0; i < btf_vlen(bt); ++i, ++m) {
        std::string mname = btf__name_by_offset(btf_, m->name_off);
        if (!mname.empty()) out.push_back(mname);
        else if (Type inner = type_of(m->type); inner.depth == 0) collect_members(inner.base, out, depth + 1);
    }
}

std::vector<std::string> Btf::member_names(const Type& aggregate) const
{
    std::vector<std::string> out;
    if (is_struct_or_union(aggregate)) collect_members(aggregate.base, out);
    return out;
}

void Btf::index() const
{
    if (indexed_) return;
    indexed_ = true;
    const std::uint32_t n = btf__type_cnt(btf_);
    funcs_.reserve(n / 2);
    enumerators_.reserve(n / 2);
    for (std::uint32_t id = 1; id < n; ++id) {
        const struct btf_type* bt = type_at(btf_, id);
        if (btf_is_func(bt)) {
            std::string_view name = btf__name_by_offset(btf_, bt->name_off);
            if (funcs_.emplace(name, id).second) func_names_.push_back(name);
        } else if (btf_is_enum(bt)) {
            const struct btf_enum* e = btf_enum(bt);
            for (int i = 0; i < btf_vlen(bt); ++i, ++e) {
                std::string_view name = btf__name_by_offset(btf_, e->name_off);
                // Sign-extend 32-bit values of signed enums; others are unsigned.
                std::uint64_t v = btf_kflag(bt) ? static_cast<std::uint64_t>(static_cast<std::int64_t>(e->val))
                                                : static_cast<std::uint32_t>(e->val);
                if (enumerators_.emplace(name, std::make_pair(id, v)).second) enumerator_names_.push_back(name);
            }
        } else if (btf_is_enum64(bt)) {
            const struct btf_enum64* e = btf_enum64(bt);
            for (int i = 0; i < btf_vlen(bt); ++i, ++e) {
                std::string_view name = btf__name_by_offset(btf_, e->name_off);
                if (enumerators_.emplace(name, std::make_pair(id, btf_enum64_value(e))).second)
                    enumerator_names_.push_back(name);
            }
        }
    }
    std::sort(func_names_.begin(), func_names_.end());
}

std::optional<Btf::Signature> Btf::signature(std::uint32_t proto_id, std::string symbol, bool skip_first) const
{
    const struct btf_type* proto = type_at(btf_, proto_id);
    if (!proto || !btf_is_func_proto(proto)) return std::nullopt;
    Signature s;
    s.symbol = std::move(symbol);
    s.ret = type_of(proto->type);
    const struct btf_param* p = btf_params(proto);
    for (int i = 0; i < btf_vlen(proto); ++i, ++p) {
        if (i == 0 && skip_first) continue;
        if (p->type == 0) break;  // '...' of a variadic function
        s.params.push_back({btf__name_by_offset(btf_, p->name_off), type_of(p->type)});
    }
    return s;
}

std::optional<Btf::Signature> Btf::function(const std::string& name) const
{
    index();
    auto it = funcs_.find(name);
    if (it == funcs_.end()) {
        // GCC clones keep the name with a suffix: foo.isra.0, foo.constprop.0, foo.cold.
        const std::string prefix = name + ".";
        auto lo = std::lower_bound(func_names_.begin(), func_names_.end(), std::string_view(prefix));
        for (; lo != func_names_.end() && lo->substr(0, prefix.size()) == prefix; ++lo)
            if (is_function_or_clone(*lo, name)) {
                it = funcs_.find(*lo);
                break;
            }
        if (it == funcs_.end()) return std::nullopt;
    }
    return signature(type_at(btf_, it->second)->type, std::string(it->first), false);
}

std::optional<Btf::Signature> Btf::tracepoint(const std::string& event) const
{
    index();
    // The kernel's tracepoint stubs carry the argument names; the
    // btf_trace_<event> typedef has the types only.
    for (const std::string& stub : {"__bpf_trace_" + event, "__probestub_" + event}) {
        auto it = funcs_.find(std::string_view(stub));
        if (it != funcs_.end()) return signature(type_at(btf_, it->second)->type, event, true);
    }
    __s32 id = btf__find_by_name_kind(btf_, ("btf_trace_" + event).c_str(), BTF_KIND_TYPEDEF);
    if (id <= 0) return std::nullopt;
    Type fn = type_of(static_cast<std::uint32_t>(id));
    if (fn.depth != 1) return std::nullopt;
    return signature(fn.base, event, true);
}

const std::vector<std::string>& Btf::function_names() const
{
    index();
    if (func_name_copies_.empty()) func_name_copies_.assign(func_names_.begin(), func_names_.end());
    return func_name_copies_;
}

std::optional<Btf::Enumerator> Btf::enumerator(const std::string& name) const
{
    index();
    auto it = enumerators_.find(std::string_view(name));
    if (it == enumerators_.end()) return std::nullopt;
    return Enumerator{Type{it->second.first, Builtin::None, 0, 0}, it->second.second};
}

std::vector<std::string> Btf::enumerators_like(const std::string& name) const
{
    index();
    std::size_t cut = name.rfind('_');
    std::string prefix = cut == std::string::npos ? name.substr(0, 1) : name.substr(0, cut + 1);
    std::vector<std::string> out;
    for (std::string_view e : enumerator_names_)
        if (e.substr(0, prefix.size()) == prefix) out.emplace_back(e);
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::pair<std::string, std::uint64_t>> Btf::enumerators_of(const Type& enum_type) const
{
    std::vector<std::pair<std::string, std::uint64_t>> out;
    if (!is_enum(enum_type)) return out;
    const struct btf_type* bt = type_at(btf_, enum_type.base);
    if (btf_is_enum(bt)) {
        const struct btf_enum* e = btf_enum(bt);
        for (int i = 0; i < btf_vlen(bt); ++i, ++e)
            out.emplace_back(btf__name_by_offset(btf_, e->name_off),
                             btf_kflag(bt) ? static_cast<std::uint64_t>(static_cast<std::int64_t>(e->val)) : static_cast<std::uint32_t>(e->val));
    } else {
        const struct btf_enum64* e = btf_enum64(bt);
        for (int i = 0; i < btf_vlen(bt); ++i, ++e) out.emplace_back(btf__name_by_offset(btf_, e->name_off), btf_enum64_value(e));
    }
    return out;
}

std::string Btf::enumerator_name(const Type& enum_type, std::uint64_t value) const
{
    if (!is_enum(enum_type)) return {};
    const struct btf_type* bt = type_at(btf_, enum_type.base);
    if (btf_is_enum(bt)) {
        const struct btf_enum* e = btf_enum(bt);
        for (int i = 0; i < btf_vlen(bt); ++i, ++e)
            if (static_cast<std::uint32_t>(e->val) == static_cast<std::uint32_t>(value)) return btf__name_by_offset(btf_, e->name_off);
    } else {
        const struct btf_enum64* e = btf_enum64(bt);
        for (int i = 0; i < btf_vlen(bt); ++i, ++e)
            if (btf_enum64_value(e) == value) return btf__name_by_offset(btf_, e->name_off);
    }
    return {};
}

}  // namespace rtd
