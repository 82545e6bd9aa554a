// import_legacy: the original rtrace-drop's TOML configuration -> one .rule
// file (`rtrace-drop import OLD.toml`). See docs/IMPORT.md.
//
// The old tool named drop points as arrays of tables:
//
//   [[function]]
//   name   = "ipt_do_table"
//   skb    = 1                          # the packet is argument 1 (1-based)
//   params = ["basic", "kretprobe"]     # packet summary; probe the return
//   exprs  = ["table", "state.hook"]    # values printed with each hit
//
// Each entry becomes `rule imported.NAME { ... }` with one capture per
// expression and no drop condition (the old tool reported every hit); the
// conditions the original documented are added commented out. What cannot
// be translated is kept as a '#' comment in the output and listed in
// ImportResult::notes. Errors in the file itself (TOML syntax, unknown keys,
// wrong types, a missing name) are diagnostics located in the TOML file,
// and no text is produced.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "compiler/btf.h"
#include "compiler/diagnostics.h"
#include "compiler/source.h"

namespace rtd {

struct ImportResult {
    std::string rule_text;           // the .rule file, deterministic for the same input and BTF
    std::vector<std::string> notes;  // "PATH:LINE:COL: what was not translated", in file order
};

// Adds `toml_text` to `sources` as `display_path` (so diagnostics quote it)
// and translates it. With `btf`, arguments are named from the function's
// BTF signature and each expression is type-checked against it (an
// expression this kernel cannot evaluate is commented out, an atomic_t read
// gets its `.counter`); without, the translation is syntactic. Returns
// nothing, with errors in `diags`, when the file cannot be read as an old
// configuration.
std::optional<ImportResult> import_legacy_config(const std::string& toml_text, const std::string& display_path,
                                                 const Btf* btf, Diagnostics& diags, SourceManager& sources);

}  // namespace rtd
