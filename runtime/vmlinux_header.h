// vmlinux.h from BTF, as bpftool's `btf dump format c` writes it: every
// type, or only those a source names (what Clang then parses is a tenth of
// the kernel's types).
#pragma once

#include <string>
#include <string_view>
#include <vector>

struct btf;

namespace rtd {

// vmlinux.h text for `btf` (libbpf btf_dump, with the preserve_access_index
// pragma and include guard that bpftool's vmlinux.h has): every type, or when
// `uses` holds texts (a source and its headers) only the structs, unions,
// enums and typedefs they name, and the enums of the enumerators they name,
// with the types those need. Empty when libbpf cannot dump the types.
std::string generate_vmlinux_h(const struct btf* btf, const std::vector<std::string_view>& uses = {});

}  // namespace rtd
