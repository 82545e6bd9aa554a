// /proc/net/softnet_stat's parser against the fixture and the line widths
// kernels print (15, 13 and 11 columns), odd spacing and offline CPUs, and
// the column names the language knows. (The SNMP parsers' tests are in
// tests/runtime/monitor_test.cpp, next to the monitors that read them.)
#include <gtest/gtest.h>

#include "compiler/language.h"
#include "compiler/proc_counters.h"

namespace rtd {
namespace {

std::vector<unsigned> cpus(const std::vector<SoftnetRow>& rows)
{
    std::vector<unsigned> out;
    for (const SoftnetRow& r : rows) out.push_back(r.cpu);
    return out;
}

TEST(SoftnetParse, FixtureFileGivesOneRowPerCpu)
{
    auto rows = read_softnet(RTD_TEST_DATA "/proc/net");
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 3u);
    EXPECT_EQ(cpus(*rows), (std::vector<unsigned>{0, 1, 2}));
    for (const SoftnetRow& r : *rows) EXPECT_EQ(r.fields.size(), 15u);
    EXPECT_EQ((*rows)[0].fields[0], 0x0856afe6u);
    EXPECT_EQ((*rows)[0].fields[1], 7u);
    EXPECT_EQ((*rows)[1].fields[1], 0u);
    EXPECT_EQ((*rows)[2].fields[1], 0x10u);
    EXPECT_EQ((*rows)[1].fields[9], 0x1au);
}

TEST(SoftnetParse, UnreadableFileGivesNothing)
{
    EXPECT_FALSE(read_softnet("/nonexistent/net"));
}

TEST(SoftnetParse, FifteenColumnsTakeTheCpuIdColumnAcrossAnOfflineCpu)
{
    // CPU 1 is offline: the kernel prints no line for it.
    auto rows = parse_softnet(
        "00000010 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000\n"
        "00000020 00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000004 00000002 00000003 00000001\n"
        "00000030 00000003 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000003 00000000 00000000\n");
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(cpus(rows), (std::vector<unsigned>{0, 2, 3}));
    EXPECT_EQ(rows[1].fields[1], 2u);
    EXPECT_EQ(rows[1].fields[*softnet_column_index("backlog_len")], 4u);
    EXPECT_EQ(rows[1].fields[*softnet_column_index("input_qlen")], 3u);
    EXPECT_EQ(rows[1].fields[*softnet_column_index("process_qlen")], 1u);
}

TEST(SoftnetParse, ThirteenColumnsHaveTheCpuIdButNoQueueLengths)
{
    auto rows = parse_softnet(
        "00000010 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001\n"
        "00000020 00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000005\n");
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(cpus(rows), (std::vector<unsigned>{1, 5}));
    EXPECT_EQ(rows[0].fields.size(), 13u);
    EXPECT_GE(*softnet_column_index("input_qlen"), rows[0].fields.size());
}

TEST(SoftnetParse, ElevenColumnsAreNumberedByLine)
{
    // Without the CPU id column an offline CPU cannot be told: the line's
    // index stands in for it.
    auto rows = parse_softnet(
        "00000010 00000001 00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000007 00000008\n"
        "00000020 00000002 00000003 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000\n");
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(cpus(rows), (std::vector<unsigned>{0, 1}));
    EXPECT_EQ(rows[0].fields.size(), 11u);
    EXPECT_EQ(rows[0].fields[*softnet_column_index("received_rps")], 7u);
    EXPECT_EQ(rows[0].fields[*softnet_column_index("flow_limit_count")], 8u);
    EXPECT_EQ(rows[1].fields[*softnet_column_index("time_squeeze")], 3u);
}

TEST(SoftnetParse, HexAnySpacingAndDamagedLines)
{
    auto rows = parse_softnet("  FFFFFFFF\t0000000a   7fffffff \r\n"
                              "\n"
                              "00000001 zz 00000000\n"    // not hex: left out, but it was CPU 1
                              "00000001 100000000\n"      // wider than 32 bits
                              "abcdef01\v00000b\f1\n");
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].fields, (std::vector<std::uint32_t>{0xffffffffu, 10, 0x7fffffffu}));
    EXPECT_EQ(rows[0].cpu, 0u);
    EXPECT_EQ(rows[1].fields, (std::vector<std::uint32_t>{0xabcdef01u, 0xb, 1}));
    EXPECT_EQ(rows[1].cpu, 3u);
    EXPECT_TRUE(parse_softnet("").empty());
}

TEST(SoftnetParse, EveryColumnNameHasItsPlace)
{
    for (const std::string& name : softnet_columns()) EXPECT_TRUE(softnet_column_index(name)) << name;
    EXPECT_EQ(softnet_column_index("processed"), 0u);
    EXPECT_EQ(softnet_column_index("dropped"), 1u);
    EXPECT_EQ(softnet_column_index("time_squeeze"), 2u);
    EXPECT_EQ(softnet_column_index("received_rps"), 9u);
    EXPECT_EQ(softnet_column_index("flow_limit_count"), 10u);
    EXPECT_EQ(softnet_column_index("backlog_len"), 11u);
    EXPECT_EQ(softnet_column_index("input_qlen"), 13u);
    EXPECT_EQ(softnet_column_index("process_qlen"), 14u);
    EXPECT_FALSE(softnet_column_index("cpu"));  // column 12 is the id, not a value
    EXPECT_FALSE(softnet_column_index("drops"));
    EXPECT_TRUE(softnet_column_is_gauge("backlog_len"));
    EXPECT_TRUE(softnet_column_is_gauge("input_qlen"));
    EXPECT_TRUE(softnet_column_is_gauge("process_qlen"));
    EXPECT_FALSE(softnet_column_is_gauge("dropped"));
    EXPECT_FALSE(softnet_column_is_gauge("flow_limit_count"));
}

}  // namespace
}  // namespace rtd
