// Name resolution over loaded modules, in place:
//  - scopes: a file sees its own constants and macros and those of the
//    files it `use`s (not transitively); conflicting definitions are errors;
//  - constants are folded to integers (cycles are errors);
//  - macro calls are expanded hygienically: arguments are resolved where the
//    call is written, the body where the macro is defined, so a rule's
//    captures never leak into a macro body; arity is checked, recursion is
//    an error, every copied node records the expansion it came from;
//  - identifiers are marked: capture, ret, monitor value, or Kernel (left
//    for the BTF type checker: probe arguments and kernel enumerators);
//  - rule checks: id form, duplicate ids, `ret` only in kretprobes,
//    capture cycles, placeholders in message/hint, monitor names.
#pragma once

#include <vector>

#include "compiler/diagnostics.h"
#include "compiler/loader.h"
#include "compiler/report.h"

namespace rtd {

void resolve_modules(std::vector<LoadedModule>& modules, const SourceManager& sources, Diagnostics& diags);

}  // namespace rtd
