#include "runtime/nft_evidence.h"

#include <nftables/libnftables.h>

#include <algorithm>
#include <memory>
#include <regex>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace rtd {

namespace {

using nlohmann::json;

std::string rule_id(const std::string& family, const std::string& table, const std::string& chain, std::uint64_t handle)
{
    return fmt::format("{} {} {} handle {}", family, table, chain, handle);
}

struct NftCtxFree {
    void operator()(struct nft_ctx* c) const { nft_ctx_free(c); }
};

// `nft list ruleset` through libnftables, in the calling thread's namespace.
bool list_ruleset(unsigned flags, std::string& out, std::string& error)
{
    std::unique_ptr<struct nft_ctx, NftCtxFree> ctx(nft_ctx_new(NFT_CTX_DEFAULT));
    if (!ctx) return error = "libnftables could not start", false;
    nft_ctx_output_set_flags(ctx.get(), flags);
    nft_ctx_buffer_output(ctx.get());
    nft_ctx_buffer_error(ctx.get());
    if (nft_run_cmd_from_buffer(ctx.get(), "list ruleset") != 0) {
        const char* e = nft_ctx_get_error_buffer(ctx.get());
        error = e && *e ? e : "'list ruleset' failed";
        while (!error.empty() && error.back() == '\n') error.pop_back();
        return false;
    }
    const char* o = nft_ctx_get_output_buffer(ctx.get());
    out = o ? o : "";
    return true;
}

std::string quoted(const NftRule& r) { return fmt::format("'{}: {}'", r.id, r.text); }

}  // namespace

std::map<std::string, NftRule> parse_nft_rules(const std::string& json_text, const std::string& text, std::string& error)
{
    std::map<std::string, NftRule> rules;
    // The text of each rule by its handle: a line "RULE # handle N" directly
    // inside a "chain NAME {" block of a "table FAMILY NAME {" block.
    std::map<std::string, std::string> texts;
    static const std::regex table_re(R"(^\s*table (\S+) (\S+) \{)"), chain_re(R"(^\s*chain (\S+) \{)"),
        rule_re(R"(^\s*(.*\S)\s+# handle (\d+)\s*$)"), counter_re(R"(counter packets \d+ bytes \d+)");
    std::istringstream lines(text);
    std::string family, table, chain;
    int depth = 0, chain_depth = -1;
    std::smatch m;
    for (std::string line; std::getline(lines, line);) {
        // Braces open blocks; a rule may hold a whole anonymous set ({ a, b }).
        const int net = static_cast<int>(std::count(line.begin(), line.end(), '{') - std::count(line.begin(), line.end(), '}'));
        if (std::regex_search(line, m, table_re)) family = m[1], table = m[2];
        else if (std::regex_search(line, m, chain_re)) chain = m[1], chain_depth = depth + 1;
        else if (depth == chain_depth && net == 0 && std::regex_match(line, m, rule_re))
            texts[rule_id(family, table, chain, std::stoull(m[2]))] = std::regex_replace(m[1].str(), counter_re, "counter");
        depth += net;
        if (depth < chain_depth) chain_depth = -1;
    }
    json j = json::parse(json_text, nullptr, false);
    if (!j.is_object() || !j.contains("nftables") || !j["nftables"].is_array()) {
        error = "libnftables gave no ruleset";
        return rules;
    }
    for (const json& item : j["nftables"]) {
        if (!item.contains("rule")) continue;
        const json& r = item["rule"];
        NftRule rule;
        rule.id = rule_id(r.value("family", ""), r.value("table", ""), r.value("chain", ""), r.value("handle", std::uint64_t{0}));
        for (const json& e : r.value("expr", json::array())) {
            if (e.contains("counter") && e["counter"].is_object()) rule.counted = true, rule.packets = e["counter"].value("packets", std::uint64_t{0});
            if (e.contains("drop")) rule.drop = true;
        }
        auto t = texts.find(rule.id);
        rule.text = t != texts.end() ? t->second : "?";
        rules[rule.id] = rule;
    }
    return rules;
}

std::string NftDropRules::look(std::uint64_t netns)
{
    std::string json_text, text, error;
    if (!list_ruleset(NFT_CTX_OUTPUT_JSON, json_text, error) || !list_ruleset(NFT_CTX_OUTPUT_HANDLE, text, error))
        return fmt::format("(nftables: {})", error);
    std::map<std::string, NftRule> rules = parse_nft_rules(json_text, text, error);
    if (!error.empty()) return fmt::format("(nftables: {})", error);
    std::map<std::string, std::uint64_t>& last = last_[netns];
    std::vector<const NftRule*> grew, uncounted;
    for (const auto& [id, r] : rules) {
        if (!r.drop) continue;
        if (!r.counted) uncounted.push_back(&r);
        else if (auto it = last.find(id); r.packets > (it == last.end() ? 0 : it->second)) grew.push_back(&r);
    }
    last.clear();
    for (const auto& [id, r] : rules)
        if (r.counted) last[id] = r.packets;
    auto list = [](const std::vector<const NftRule*>& rs) {
        std::string out;
        for (const NftRule* r : rs) out += (out.empty() ? "" : ", ") + quoted(*r);
        return out;
    };
    if (grew.size() == 1) return "the nft rule " + quoted(*grew[0]) + " counted it";
    if (!grew.empty()) return "one of the nft rules " + list(grew) + " counted it (each counted drops since the last look)";
    if (uncounted.size() == 1)
        return fmt::format("no nft drop rule with a counter counted it; it may have been {}, which has none (add 'counter' to it to be sure)",
                           list(uncounted));
    if (!uncounted.empty())
        return fmt::format("no nft drop rule with a counter counted it; it may have been one of {}, which have none (add 'counter' to them to see which)",
                           list(uncounted));
    if (rules.empty()) return "no nftables rule in this namespace";
    return "no nft drop rule counted it (a chain's drop policy?)";
}

}  // namespace rtd
