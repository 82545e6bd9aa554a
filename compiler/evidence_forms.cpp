#include "compiler/evidence_forms.h"

#include <string>
#include <vector>

#include <fmt/format.h>

#include "compiler/words.h"

namespace rtd {

// The forms runtime/evidence.cpp looks up. Its argument's words, placeholders
// included ("{saddr} from {daddr} iif {dev}").
bool check_evidence_form(const TextTemplate::Piece& piece, Diagnostics& diags)
{
    const std::vector<std::string> words = split_words(piece.text);
    const std::string& kind = piece.evidence;
    auto bad = [&](std::string message, std::string hint) {
        diags.error(piece.range, std::move(message)).hint(std::move(hint));
        return false;
    };
    if (kind == "sysctl") {
        if (words.size() != 1)
            return bad("'{sysctl:KEY}' needs one key", "for example {sysctl:net.ipv4.conf.{dev}.rp_filter}, read in the packet's namespace");
        for (const auto& a : piece.arg)
            if (!a.placeholder && (a.text.find("..") != std::string::npos || a.text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != std::string::npos))
                return bad(fmt::format("'{}' is not part of a sysctl key", a.text), "a key is words joined by dots, as 'sysctl' prints it: net.ipv4.ip_forward");
        return true;
    }
    if (kind == "route") {
        bool ok = !words.empty() && words.size() % 2 == 1;
        for (std::size_t i = 1; ok && i < words.size(); i += 2) ok = words[i] == "from" || words[i] == "iif" || words[i] == "oif";
        if (!ok) return bad("'{route:...}' is {route:ADDR}, optionally with 'from ADDR', 'iif DEV', 'oif DEV'", "as 'ip route get' takes them: {route:{saddr} from {daddr} iif {dev}}");
        return true;
    }
    if (kind == "nft") {
        if (piece.text != "drop") return bad("'{nft:...}' is {nft:drop}", "the nftables rule whose verdict is drop and whose counter counted the packet");
        return true;
    }
    if (kind == "socket") {
        if (words.size() != 3 || (words[0] != "tcp" && words[0] != "udp"))
            return bad("'{socket:...}' is {socket:tcp ADDR PORT} or {socket:udp ADDR PORT}", "the listener or the sockets bound where the packet went: {socket:tcp {daddr} {dport}}");
        return true;
    }
    if (kind == "neigh") {
        if (words.size() != 3 || words[1] != "dev") return bad("'{neigh:...}' is {neigh:ADDR dev DEV}", "for example {neigh:{daddr} dev {dev}}");
        return true;
    }
    return bad(fmt::format("unknown evidence '{}'", kind), "evidence looked up when the event is reported: {sysctl:KEY}, {route:ADDR ...}, {neigh:ADDR dev DEV}, {socket:tcp|udp ADDR PORT}, {nft:drop}");
}

}  // namespace rtd
