// The evidence placeholders a message or hint may hold ({sysctl:KEY},
// {route:ADDR ...}, {neigh:ADDR dev DEV}, {socket:tcp|udp ADDR PORT},
// {nft:drop}): their arguments' forms, checked where they are written.
// runtime/evidence.h looks them up.
#pragma once

#include "compiler/ast.h"
#include "compiler/diagnostics.h"

namespace rtd {

// True when `piece` (an evidence placeholder) is one of the forms; else a
// located error is added to `diags`.
bool check_evidence_form(const TextTemplate::Piece& piece, Diagnostics& diags);

}  // namespace rtd
