// The manifest: a CompiledRuleSet without its C source, as JSON
// (CompiledRuleSet::manifest_json, written in manifest.cpp), and back.
// It travels inside prebuilt objects (.rdo), so reading it checks every
// field: the file may come from another machine or be damaged.
#pragma once

#include <optional>
#include <string>

#include "compiler/compiled.h"

namespace rtd {

std::optional<CompiledRuleSet> read_manifest(const std::string& json_text, std::string& error);

}  // namespace rtd
