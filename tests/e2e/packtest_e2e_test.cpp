// `rtrace-drop test`, the packs' test runner, run as a user runs it against
// the fixture packs in tests/data/packtest: a case that passes, one that
// fails (its rule's condition cannot hold), one whose setup fails (an error,
// never a pass), a case file with a mistake (located, exit 2), exec refused
// and allowed, a step the kernel cannot do (skipped), Ctrl-C in the middle
// of a case (its namespaces removed), the JUnit report read back by
// Python's XML parser, stale namespaces swept.
#include <fcntl.h>
#include <poll.h>

#include "tests/e2e/e2e_support.h"

namespace e2e {
namespace {

const std::string kFixture = RTD_TEST_DATA "/packtest/fixture";
const std::string kBroken = RTD_TEST_DATA "/packtest/broken";

struct Result {
    int status = -1;
    std::string out, err;
};

// `rtrace-drop test ARGS`; `interrupt_when` (a predicate over the time
// since the start) sends SIGINT once it says so.
Result rtd_test(std::vector<std::string> args, const std::function<bool(pid_t)>& interrupt_when = {})
{
    TempFiles tmp("packtest");
    const std::string out = tmp.path + "/out", err = tmp.path + "/err";
    args.insert(args.begin(), "test");
    pid_t pid = fork();
    if (pid == 0) {
        if (!std::freopen(out.c_str(), "w", stdout) || !std::freopen(err.c_str(), "w", stderr)) _exit(126);
        setenv("XDG_CACHE_HOME", "/tmp/rtd-e2e-cache", 1);
        std::vector<char*> argv{const_cast<char*>(RTD_BINARY)};
        for (std::string& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        execv(RTD_BINARY, argv.data());
        _exit(127);
    }
    Result r;
    bool interrupted = false;
    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(240);
    while (std::chrono::steady_clock::now() < limit) {
        int st = 0;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        if (interrupt_when && !interrupted && interrupt_when(pid)) {
            kill(pid, SIGINT);
            interrupted = true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (r.status < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
    }
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

// The runner's namespaces of process `pid` that exist now.
std::vector<std::string> namespaces_of(pid_t pid)
{
    std::vector<std::string> out;
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator("/run/netns", ec))
        if (e.path().filename().string().rfind(fmt::format("rtdt-{}-", pid), 0) == 0) out.push_back(e.path().filename().string());
    return out;
}

// The table's row for RULE in CASE: "RULE CASE RESULT FIRED EXPECTED NOTE".
std::string row(const std::string& table, const std::string& rule, const std::string& case_id)
{
    std::istringstream lines(table);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind(rule + " ", 0) == 0 && line.find(" " + case_id + " ") != std::string::npos) return line;
    return "";
}

TEST(PackTestE2E, PassingCaseCountsTheRulesEventsAndTheCounter)
{
    NEED_ROOT_AND_BPF();
    Result r = rtd_test({kFixture, "-k", "fixture/passes"});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(row(r.out, "fixture.no_socket", "fixture/passes").find("pass"), std::string::npos) << r.out;
    std::string counter = row(r.out, "counter UdpNoPorts in b", "fixture/passes");
    EXPECT_NE(counter.find("pass"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("1 passed, 0 failed, 0 error(s), 0 skipped"), std::string::npos) << r.err;
}

TEST(PackTestE2E, ImpossibleConditionFailsAndSetupErrorIsNeverAPass)
{
    NEED_ROOT_AND_BPF();
    Result r = rtd_test({kFixture, "-k", "fixture/[fs]*", "--json"});  // "fails", "setup fails"
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    json j = json::parse(r.out, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.out;
    std::map<std::string, json> by_name;
    for (const json& c : j["cases"]) by_name[c["case"].get<std::string>()] = c;
    ASSERT_EQ(by_name.count("fails"), 1u) << r.out;
    EXPECT_EQ(by_name["fails"]["result"], "FAIL");
    EXPECT_EQ(by_name["fails"]["rows"][0]["fired"], 0);
    EXPECT_EQ(by_name["fails"]["rows"][0]["expected"], ">= 1");
    ASSERT_EQ(by_name.count("setup fails"), 1u) << r.out;
    EXPECT_EQ(by_name["setup fails"]["result"], "ERROR");
    // The step, where it ran and nft's own complaint.
    std::string note = by_name["setup fails"]["note"];
    EXPECT_NE(note.find("step 1 (nft in b)"), std::string::npos) << note;
    EXPECT_NE(note.find("syntax error"), std::string::npos) << note;
    // The drop the second step would have made was never made: the case did not go on.
    EXPECT_EQ(by_name["setup fails"]["rows"][0]["result"], "ERROR");
    EXPECT_EQ(j["totals"]["failed"], 1);
    EXPECT_EQ(j["totals"]["errors"], 1);
}

TEST(PackTestE2E, MistakeInACaseFileIsLocatedAndExitsTwo)
{
    Result r = rtd_test({kBroken});
    EXPECT_EQ(r.status, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("broken/tests/cases.toml:3:41-45: error: 'udp_send' takes no 'cuont'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("~~~~~"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("hint: 'udp_send' takes 'in' and: count, size"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(PackTestE2E, ExecIsRefusedUnlessAllowed)
{
    NEED_ROOT_AND_BPF();
    Result refused = rtd_test({kFixture, "-k", "fixture/runs a shell"});
    EXPECT_EQ(refused.status, 0) << refused.out << refused.err;  // skipped, not failed
    std::string line = row(refused.out, "fixture.no_socket", "fixture/runs a shell");
    EXPECT_NE(line.find("skipped"), std::string::npos) << refused.out;
    EXPECT_NE(line.find("needs --allow-exec"), std::string::npos) << refused.out;
    EXPECT_EQ(rtd_test({kFixture, "-k", "fixture/runs a shell", "--strict"}).status, 1);

    Result allowed = rtd_test({kFixture, "-k", "fixture/runs a shell", "--allow-exec"});
    EXPECT_EQ(allowed.status, 0) << allowed.out << allowed.err;
    // The shell sent the datagram: the rule saw it.
    line = row(allowed.out, "fixture.no_socket", "fixture/runs a shell");
    EXPECT_NE(line.find("pass"), std::string::npos) << allowed.out;
}

TEST(PackTestE2E, StepTheKernelCannotDoOrAnOlderKernelSkipsItsCase)
{
    NEED_ROOT_AND_BPF();
    Result r = rtd_test({kFixture, "-k", "fixture/kernel lacks a device"});
    EXPECT_EQ(r.status, 0) << r.out << r.err;  // skipped, not an error
    std::string line = row(r.out, "fixture.no_socket", "fixture/kernel lacks a device");
    EXPECT_NE(line.find("skipped"), std::string::npos) << r.out;
    EXPECT_NE(line.find("this kernel has no rtdnosuchkind devices"), std::string::npos) << r.out;
    EXPECT_EQ(rtd_test({kFixture, "-k", "fixture/kernel lacks a device", "--strict"}).status, 1);

    // min_kernel: skipped before any namespace is made.
    r = rtd_test({kFixture, "-k", "fixture/kernel too old"});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    line = row(r.out, "fixture.no_socket", "fixture/kernel too old");
    EXPECT_NE(line.find("skipped"), std::string::npos) << r.out;
    EXPECT_NE(line.find("needs Linux 99.1 or later (this kernel: "), std::string::npos) << r.out;
}

TEST(PackTestE2E, CtrlCInTheMiddleOfACaseRemovesItsNamespaces)
{
    NEED_ROOT_AND_BPF();
    pid_t runner = 0;
    bool seen = false;
    std::chrono::steady_clock::time_point since;
    Result r = rtd_test({kFixture, "-k", "fixture/waits"}, [&](pid_t pid) {
        runner = pid;
        // The case waits 30 s: interrupt 4 s after its namespaces are there
        // (its rules attached, its wait step running, unless the compile is cold).
        if (!seen && namespaces_of(pid).size() == 2) seen = true, since = std::chrono::steady_clock::now();
        return seen && std::chrono::steady_clock::now() - since > std::chrono::seconds(4);
    });
    EXPECT_TRUE(seen) << "the case's two namespaces never appeared\n" << r.err;
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_NE(r.err.find("interrupted"), std::string::npos) << r.err;
    EXPECT_TRUE(namespaces_of(runner).empty());
}

TEST(PackTestE2E, JunitReportReadsBack)
{
    NEED_ROOT_AND_BPF();
    TempFiles tmp("packtest-junit");
    const std::string xml = tmp.path + "/report.xml";
    Result r = rtd_test({kFixture, "-k", "fixture/[pfr]*", "--junit", xml});  // passes, fails, runs a shell
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    // Python's own XML parser: well-formed, and the counts and outcomes are where CI systems look.
    std::string read = sh_out(fmt::format(
        "/usr/bin/python3 -c \"import xml.etree.ElementTree as E; r=E.parse('{}').getroot(); s=r.find('testsuite'); "
        "print(r.tag, s.get('name'), s.get('tests'), s.get('failures'), s.get('errors'), s.get('skipped')); "
        "[print(c.get('name'), '|', ' '.join(x.tag for x in c)) for c in s.findall('testcase')]\"",
        xml));
    EXPECT_NE(read.find("testsuites fixture 3 1 0 1"), std::string::npos) << read;
    EXPECT_NE(read.find("passes | \n"), std::string::npos) << read;
    EXPECT_NE(read.find("fails | failure system-out"), std::string::npos) << read;
    EXPECT_NE(read.find("runs a shell | skipped"), std::string::npos) << read;
}

TEST(PackTestE2E, ThreeNamespacesRoutedAndStaleNamespacesSwept)
{
    NEED_ROOT_AND_BPF();
    // A runner killed before it could clean up (pid 999999 does not run).
    sh("ip netns add rtdt-999999-0-a");
    ASSERT_TRUE(fs::exists("/run/netns/rtdt-999999-0-a"));
    Result r = rtd_test({kFixture, "-k", "fixture/three namespaces"});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(row(r.out, "fixture.no_socket", "fixture/three namespaces").find("pass"), std::string::npos) << r.out;
    EXPECT_FALSE(fs::exists("/run/netns/rtdt-999999-0-a"));
    sh("ip netns del rtdt-999999-0-a");
}

TEST(PackTestE2E, BuiltObjectCarriesThePacksTestResults)
{
    NEED_ROOT_AND_BPF();
    TempFiles tmp("packtest-rdo");
    const std::string rdo = tmp.path + "/fixture.rdo";
    // tests/matrix.json beside the rules is what tests/vm/kernel_matrix.py writes.
    ASSERT_EQ(sh(fmt::format("XDG_CACHE_HOME=/tmp/rtd-e2e-cache {} build {} -o {}", RTD_BINARY, kFixture, rdo)), 0);
    std::string listed = sh_out(fmt::format("{} list {} 2>&1", RTD_BINARY, rdo));
    EXPECT_NE(listed.find("built by rtrace-drop"), std::string::npos) << listed;
    EXPECT_NE(listed.find("fixture.no_socket"), std::string::npos) << listed;
    EXPECT_NE(listed.find("tested on 6.1.0-57-amd64: pass (tp_btf)"), std::string::npos) << listed;
    EXPECT_NE(listed.find("tested on 6.18.44-example: pass (tp_btf)"), std::string::npos) << listed;
    // A rule without results says so rather than nothing.
    auto never = listed.find("fixture.never");
    ASSERT_NE(never, std::string::npos) << listed;
    EXPECT_NE(listed.find("tested: no case results in the object", never), std::string::npos) << listed;
}

}  // namespace
}  // namespace e2e
