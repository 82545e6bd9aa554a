// {nft:drop}'s reading of a ruleset (runtime/nft_evidence.h): each rule's
// id, text (counter values left out), verdict and counter, from `nft -j`
// and `nft -a` listings as libnftables 1.0.6 writes them. The look-up in a
// namespace is tested end to end (rules/netfilter/tests, EvidenceE2E).
#include "runtime/nft_evidence.h"

#include <gtest/gtest.h>

namespace rtd {
namespace {

const char* kText = R"(table inet filter { # handle 1
	set blocked { # handle 5
		type ipv4_addr
		elements = { 10.9.9.9 }
	}
	chain input { # handle 1
		type filter hook input priority filter; policy accept;
		udp dport 8018 counter packets 3 bytes 93 drop # handle 2
		ip saddr { 10.0.0.1, 10.0.0.2 } drop # handle 3
		tcp dport 22 counter packets 0 bytes 0 accept # handle 4
	}
}
table ip nat { # handle 2
	chain post { # handle 1
		type nat hook postrouting priority srcnat; policy accept;
		masquerade # handle 2
	}
}
)";

const char* kJson = R"({"nftables": [{"metainfo": {"version": "1.0.6"}},
 {"table": {"family": "inet", "name": "filter", "handle": 1}},
 {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 2,
   "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 8018}},
            {"counter": {"packets": 3, "bytes": 93}}, {"drop": null}]}},
 {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 3,
   "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"set": ["10.0.0.1", "10.0.0.2"]}}},
            {"drop": null}]}},
 {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 4,
   "expr": [{"counter": {"packets": 0, "bytes": 0}}, {"accept": null}]}},
 {"rule": {"family": "ip", "table": "nat", "chain": "post", "handle": 2, "expr": [{"masquerade": null}]}}]})";

TEST(NftEvidence, RulesReadWithTheirTextVerdictAndCounter)
{
    std::string error;
    std::map<std::string, NftRule> rules = parse_nft_rules(kJson, kText, error);
    ASSERT_TRUE(error.empty()) << error;
    ASSERT_EQ(rules.size(), 4u);
    const NftRule& counted = rules.at("inet filter input handle 2");
    EXPECT_EQ(counted.text, "udp dport 8018 counter drop");
    EXPECT_TRUE(counted.drop);
    EXPECT_TRUE(counted.counted);
    EXPECT_EQ(counted.packets, 3u);
    const NftRule& set_rule = rules.at("inet filter input handle 3");  // an anonymous set on its line
    EXPECT_EQ(set_rule.text, "ip saddr { 10.0.0.1, 10.0.0.2 } drop");
    EXPECT_TRUE(set_rule.drop);
    EXPECT_FALSE(set_rule.counted);
    EXPECT_FALSE(rules.at("inet filter input handle 4").drop);
    EXPECT_EQ(rules.at("ip nat post handle 2").text, "masquerade");
}

TEST(NftEvidence, NoRulesetIsAnError)
{
    std::string error;
    EXPECT_TRUE(parse_nft_rules("not json", "", error).empty());
    EXPECT_EQ(error, "libnftables gave no ruleset");
}

}  // namespace
}  // namespace rtd
