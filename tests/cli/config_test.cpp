// Settings from config files and packs found by name, driven directly.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "cli/config.h"
#include "compiler/packs.h"

namespace rtd {
namespace {

bool load(const std::string& text, Settings& s, std::string& errors)
{
    SourceManager sources;
    Diagnostics diags;
    bool ok = load_config_text("c.toml", text, s, sources, diags);
    errors = diags.render(sources);
    return ok;
}

TEST(Config, DefaultsWrittenCommentedReadBackAsDefaults)
{
    Settings s;
    s.format = "json";  // overwritten by the file's defaults
    std::string errors;
    ASSERT_TRUE(load(config_text(Settings{}, true), s, errors)) << errors;
    EXPECT_EQ(config_text(s, false), config_text(Settings{}, false));
}

TEST(Config, KeysNotInTheFileKeepTheirValue)
{
    Settings s;
    s.hints = true;
    std::string errors;
    ASSERT_TRUE(load("[output]\nformat = \"summary\"\n", s, errors)) << errors;
    EXPECT_EQ(s.format, "summary");
    EXPECT_TRUE(s.hints);
}

TEST(Config, ValuesAreChecked)
{
    Settings s;
    std::string errors;
    EXPECT_FALSE(load("[filter]\nport = [80, 70000]\nrate_limit = -1\n", s, errors));
    EXPECT_NE(errors.find("c.toml:2:13-17: error: 'port' must be between 0 and 65535"), std::string::npos) << errors;
    EXPECT_NE(errors.find("c.toml:3:14-15: error: 'rate_limit' must be between 0 and 4294967295"), std::string::npos) << errors;
    EXPECT_EQ(s.port, std::vector<std::uint32_t>{}) << "a file with errors changes nothing";
    EXPECT_FALSE(load("[params]\nx = 1\n", s, errors));
    EXPECT_NE(errors.find("'params.\"x\"' must be a table, not an integer"), std::string::npos) << errors;
    EXPECT_FALSE(load("[params.\"r.x\"]\nmin = \"big\"\n", s, errors));
    EXPECT_NE(errors.find("'min' must be an integer (a rule's param), not a string"), std::string::npos) << errors;
    EXPECT_FALSE(load("rules = 1\n", s, errors));
    EXPECT_NE(errors.find("'rules' must be a table, not an integer"), std::string::npos) << errors;
}

// toml++ counts columns in characters; the diagnostic must underline the
// bytes of the value even after non-ASCII text on the same line.
TEST(Config, PositionsAfterNonAsciiTextPointAtTheValue)
{
    Settings s;
    std::string errors;
    EXPECT_FALSE(load("[params.\"r.x\"]\nmin = 1\n[params]\n\"r.\u00e9\u00e9\" = { min = \"big\" }\n", s, errors));
    // line 4: "r.éé" is 4 characters but 6 bytes: "big" is at bytes 20-24.
    EXPECT_NE(errors.find("c.toml:4:20-24: error: 'min' must be an integer"), std::string::npos) << errors;
    EXPECT_NE(errors.find("~~~~~"), std::string::npos) << errors;
}

TEST(Config, ParamsRememberWhereTheyWereSet)
{
    Settings s;
    std::string errors;
    ASSERT_TRUE(load("\n[params.\"sysctl.somaxconn_small\"]\nmin = -4096\n", s, errors)) << errors;
    const ParamOverride& p = s.params.at("sysctl.somaxconn_small").at("min");
    EXPECT_EQ(p.value, -4096);
    EXPECT_EQ(p.where, "c.toml:3:7");
}

TEST(Config, ShorthandsBecomeOneFilter)
{
    Settings s;
    s.where = "pid != 1";
    s.host = {"10.0.0.0/8", "::1"};
    s.port = {443};
    s.proto = "TCP";
    s.dev = "eth0";
    std::string filter, error;
    ASSERT_TRUE(combined_filter(s, filter, error)) << error;
    EXPECT_EQ(filter, "(pid != 1) && (saddr in 10.0.0.0/8 || daddr in 10.0.0.0/8 || saddr == ::1 || daddr == ::1) && "
                      "(sport == 443 || dport == 443) && (proto == tcp) && (dev == \"eth0\")");
    Settings alone;
    alone.where = "dport == 1";
    ASSERT_TRUE(combined_filter(alone, filter, error));
    EXPECT_EQ(filter, "dport == 1");
    Settings none;
    ASSERT_TRUE(combined_filter(none, filter, error));
    EXPECT_EQ(filter, "");
    // Values that are not what they claim never reach the filter text.
    for (auto [field, value] : {std::pair{&Settings::proto, "tcp || 1"}, std::pair{&Settings::dev, "a\" || \"b"}}) {
        Settings bad;
        bad.*field = value;
        EXPECT_FALSE(combined_filter(bad, filter, error)) << value;
    }
    Settings bad_host;
    bad_host.host = {"10.0.0.1 || 1"};
    EXPECT_FALSE(combined_filter(bad_host, filter, error));
    EXPECT_EQ(error, "--host '10.0.0.1 || 1' is not an address or CIDR");
}

TEST(Packs, KernelVersionsCompareNumerically)
{
    EXPECT_LT(compare_kernel_versions("5.10.0-28-amd64", "5.17"), 0);
    EXPECT_GT(compare_kernel_versions("6.1.0-18-amd64", "5.17"), 0);
    EXPECT_EQ(compare_kernel_versions("5.17", "5.17.0"), 0);
    EXPECT_GT(compare_kernel_versions("6.18.44-fc", "6.2"), 0);
}

// Settings files from elsewhere: a device or a huge file is refused before
// it is read; a hostile version string does not overflow.
TEST(Config, HostileFilesAreRefusedUnread)
{
    for (const char* path : {"/dev/zero", "/proc/self", "/nonexistent/config.toml"}) {
        Settings s;
        SourceManager sources;
        Diagnostics diags;
        EXPECT_FALSE(load_config(path, s, sources, diags)) << path;
        EXPECT_NE(diags.render(sources).find("cannot read the config file: "), std::string::npos) << diags.render(sources);
    }
    std::string big = testing::TempDir() + "/rtd-big-config.toml";
    {
        std::ofstream out(big);
        out << "# " << std::string((1u << 20) + 10, 'x') << "\n";
    }
    Settings s;
    SourceManager sources;
    Diagnostics diags;
    EXPECT_FALSE(load_config(big, s, sources, diags));
    EXPECT_NE(diags.render(sources).find("bytes; config files are limited to 1 MiB"), std::string::npos) << diags.render(sources);
    std::remove(big.c_str());
}

TEST(Packs, NamesNeverNamePaths)
{
    for (const char* good : {"tcp", "my-team.net_v2", "9p"}) EXPECT_TRUE(valid_pack_name(good)) << good;
    for (const char* bad : {"", "../etc", "a/b", "/etc", ".hidden", "a..b", "x\"; PWNED", "tab\tname"}) EXPECT_FALSE(valid_pack_name(bad)) << bad;
    EXPECT_GT(compare_kernel_versions("99999999999999999999999", "6.1"), 0);
    EXPECT_LT(compare_kernel_versions("6.1", "6.99999999999999999999999"), 0);
}

}  // namespace
}  // namespace rtd
