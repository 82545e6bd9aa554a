// The address literals of --where filters (filter.h): IPv4 dotted quads,
// RFC 4291 IPv6 text, either with a CIDR prefix length. The grammar
// (grammar.h's addr_lit) only finds where a literal ends; this reads it.
#pragma once

#include <optional>
#include <string_view>

#include "compiler/ast.h"
#include "compiler/diagnostics.h"
#include "compiler/source.h"

namespace rtd {

// `spelling` is the literal as written at `range` ("10.0.0.0/8"); errors
// name the address or the prefix length within it and give nothing.
std::optional<AddressLiteral> parse_address_literal(std::string_view spelling, SourceRange range, Diagnostics& diags);

}  // namespace rtd
