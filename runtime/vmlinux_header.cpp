#include "runtime/vmlinux_header.h"

#include <bpf/btf.h>

#include <cstdarg>
#include <cstdio>
#include <unordered_set>

namespace rtd {

namespace {

// btf_dump hands us printf-style fragments; append each to the string.
void append_printf(void* ctx, const char* format, va_list args)
{
    auto& out = *static_cast<std::string*>(ctx);
    char small[512];
    va_list copy;
    va_copy(copy, args);
    int n = std::vsnprintf(small, sizeof small, format, copy);
    va_end(copy);
    if (n < 0)
        return;
    if (static_cast<std::size_t>(n) < sizeof small) {
        out.append(small, static_cast<std::size_t>(n));
        return;
    }
    std::size_t at = out.size();
    out.resize(at + static_cast<std::size_t>(n) + 1);
    std::vsnprintf(out.data() + at, static_cast<std::size_t>(n) + 1, format, args);
    out.resize(at + static_cast<std::size_t>(n));
}

// Every C identifier in `text`.
void identifiers_in(std::string_view text, std::unordered_set<std::string_view>& out)
{
    auto start = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
    auto rest = [&](char c) { return start(c) || (c >= '0' && c <= '9'); };
    for (std::size_t i = 0; i < text.size();) {
        if (!start(text[i])) {
            // Skip numbers whole: "0x1f" is not the identifier "x1f".
            if (text[i] >= '0' && text[i] <= '9')
                while (i < text.size() && rest(text[i])) ++i;
            else
                ++i;
            continue;
        }
        std::size_t b = i;
        while (i < text.size() && rest(text[i])) ++i;
        out.insert(text.substr(b, i - b));
    }
}

// The types whose name (struct, union, enum or typedef), or one of whose
// enumerators, is an identifier the code uses.
std::vector<__u32> types_used(const struct btf* btf, const std::unordered_set<std::string_view>& names)
{
    std::vector<__u32> ids;
    for (__u32 id = 1, n = btf__type_cnt(btf); id < n; ++id) {
        const struct btf_type* t = btf__type_by_id(btf, id);
        if (!t) continue;
        bool named = btf_is_composite(t) || btf_is_any_enum(t) || btf_is_typedef(t) || btf_is_fwd(t);
        if (named && t->name_off && names.count(btf__name_by_offset(btf, t->name_off))) {
            ids.push_back(id);
            continue;
        }
        if (btf_is_enum(t)) {
            const struct btf_enum* e = btf_enum(t);
            for (int i = 0; i < btf_vlen(t); ++i, ++e)
                if (names.count(btf__name_by_offset(btf, e->name_off))) {
                    ids.push_back(id);
                    break;
                }
        } else if (btf_is_enum64(t)) {
            const struct btf_enum64* e = btf_enum64(t);
            for (int i = 0; i < btf_vlen(t); ++i, ++e)
                if (names.count(btf__name_by_offset(btf, e->name_off))) {
                    ids.push_back(id);
                    break;
                }
        }
    }
    return ids;
}

}  // namespace

std::string generate_vmlinux_h(const struct btf* btf, const std::vector<std::string_view>& uses)
{
    if (btf == nullptr)
        return {};
    std::string types;
    btf_dump* dump = btf_dump__new(btf, append_printf, &types, nullptr);
    if (dump == nullptr)
        return {};
    bool ok = true;
    if (uses.empty()) {
        for (__u32 id = 1, n = btf__type_cnt(btf); id < n && ok; ++id)
            ok = btf_dump__dump_type(dump, id) == 0;
    } else {
        std::unordered_set<std::string_view> names;
        for (std::string_view text : uses) identifiers_in(text, names);
        for (__u32 id : types_used(btf, names))
            if ((ok = btf_dump__dump_type(dump, id) == 0) == false) break;
    }
    btf_dump__free(dump);
    if (!ok)
        return {};

    // What bpftool's `btf dump format c` wraps around the types: every
    // struct/union access becomes a CO-RE relocation.
    std::string out;
    out.reserve(types.size() + 512);
    out += "#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n"
           "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
           "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n"
           "#endif\n\n";
    out += types;
    out += "\n#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n"
           "#endif /* __VMLINUX_H__ */\n";
    return out;
}

}  // namespace rtd
