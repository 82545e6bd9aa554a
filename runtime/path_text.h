// run --track: a drop's path (the devices its packet crossed, oldest
// first) as the lines printed under the event line, and as the event's
// JSON "path".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/decoder.h"

namespace rtd {

class JsonLine;

// The packet's id, skb->head and when it was first seen:
// "0xffff8881044c2000@5023.118842118".
std::string path_id(const PathInfo& path);
// The places a hop saw, in the order a packet meets them: "rx,receive".
std::vector<std::string> place_names(const HopInfo& hop);
// "DNAT 10.77.2.10:80 -> 10.77.3.2:8080", "SNAT ... -> ...", both (SNAT
// first) or "" (nat_change's rule).
std::string nat_text(const PacketInfo& before, const PacketInfo& after);
// The lines under the event line (indented, no newline); none without e.path.
std::vector<std::string> path_lines(const DecodedEvent& e, bool color);
// The "path" field of the event's JSON line (sorted keys, as the rest).
void write_path_json(JsonLine& j, const PathInfo& path);

}  // namespace rtd
