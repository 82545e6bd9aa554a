// `run --metrics` scraped by a real Prometheus server (Debian's
// `prometheus`), started here on 127.0.0.1 with a 1 s scrape interval: the
// drop counter it stores equals what the kernel counted (UdpNoPorts in each
// namespace, the iptables rule's counter), and promtool finds the scrape
// clean.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>

#include "tests/e2e/e2e_support.h"

namespace e2e {
namespace {

const std::string kPacks = RTD_SOURCE_DIR "/rules";

std::string http_get(const std::string& url) { return sh_out(fmt::format("curl -s --max-time 5 '{}'", url)); }

// A Prometheus server scraping one target every second; stopped (and its
// data removed) with the object.
class PrometheusServer {
public:
    PrometheusServer(const std::string& target, const std::string& dir) : dir_(dir), port_(free_port())
    {
        std::ofstream(dir + "/prometheus.yml") << fmt::format(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: rtrace-drop\n    static_configs:\n      - targets: ['{}']\n",
            target);
        pid_ = fork();
        if (pid_ == 0) {
            if (!std::freopen((dir + "/prometheus.log").c_str(), "w", stdout) || !std::freopen((dir + "/prometheus.log").c_str(), "a", stderr))
                _exit(126);
            execlp("prometheus", "prometheus", ("--config.file=" + dir + "/prometheus.yml").c_str(), ("--storage.tsdb.path=" + dir + "/data").c_str(),
                   fmt::format("--web.listen-address=127.0.0.1:{}", port_).c_str(), "--storage.tsdb.retention.time=1h", nullptr);
            _exit(127);
        }
    }
    ~PrometheusServer()
    {
        if (pid_ > 0) {
            kill(pid_, SIGTERM);
            for (int i = 0; i < 100 && waitpid(pid_, nullptr, WNOHANG) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
    }
    bool ready()
    {
        for (int i = 0; i < 300; ++i) {
            if (http_get(url("/-/ready")).find("Ready") != std::string::npos) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return false;
    }
    std::string url(const std::string& path) const { return fmt::format("http://127.0.0.1:{}{}", port_, path); }
    // The instant query's samples: labels -> value.
    std::vector<std::pair<json, double>> query(const std::string& promql) const
    {
        std::string out = sh_out(fmt::format("curl -s --max-time 5 -G --data-urlencode 'query={}' {}", promql, url("/api/v1/query")));
        std::vector<std::pair<json, double>> samples;
        json j = json::parse(out, nullptr, false);
        if (j.is_discarded() || j.value("status", "") != "success") return samples;
        for (const json& s : j["data"]["result"]) samples.emplace_back(s["metric"], std::stod(s["value"][1].get<std::string>()));
        return samples;
    }
    // The single value of `promql` once it equals `want` (or the last one seen after `limit`).
    double value_when(const std::string& promql, double want, std::chrono::seconds limit = std::chrono::seconds(30)) const
    {
        double last = -1;
        auto end = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < end) {
            auto samples = query(promql);
            if (samples.size() == 1) last = samples[0].second;
            if (last == want) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
        return last;
    }
    std::string log() const { return slurp(dir_ + "/prometheus.log"); }

private:
    std::string dir_;
    int port_;
    pid_t pid_ = -1;
};

std::uint64_t udp_no_ports(const std::string& which)
{
    std::string out = sh_out(fmt::format("ip netns exec {} nstat -az UdpNoPorts", which));  // "UdpNoPorts   N   0.0"
    std::istringstream words(out.substr(std::min(out.size(), out.find("UdpNoPorts"))));
    std::string name;
    std::uint64_t n = 0;
    words >> name >> n;
    return n;
}

TEST(MetricsE2E, PrometheusStoresWhatTheKernelCounted)
{
    NEED_ROOT_AND_BPF();
    ASSERT_EQ(sh("(command -v prometheus && command -v promtool && command -v curl)"), 0) << "needs Debian's prometheus and curl (make deps)";
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    TempFiles tmp("metrics");
    ASSERT_EQ(sh(ns.in_b("iptables -A INPUT -p udp --dport 7003 -j DROP")), 0);
    const int port = free_port();
    DropTracer run({kPacks + "/udp", kPacks + "/netfilter", kPacks + "/snmp", "--metrics", fmt::format("127.0.0.1:{}", port), "--quiet"});
    ASSERT_TRUE(run.ready()) << run.err();
    PrometheusServer prometheus(fmt::format("127.0.0.1:{}", port), tmp.path);
    ASSERT_TRUE(prometheus.ready()) << prometheus.log();

    // No socket in B (sent from A), no socket in A (sent from B), and the firewall of B.
    sh(ns.in_a(fmt::format("{} {} udp-flood {} 7001 3000 16", kPy, kTraffic, ns.addr_b)));
    sh(ns.in_b(fmt::format("{} {} udp-flood {} 7002 2000 16", kPy, kTraffic, ns.addr_a)));
    sh(ns.in_a(fmt::format("{} {} udp-flood {} 7003 1000 16", kPy, kTraffic, ns.addr_b)));
    const std::uint64_t no_ports_b = udp_no_ports(ns.b), no_ports_a = udp_no_ports(ns.a);
    const std::uint64_t firewall = std::stoull(sh_out(ns.in_b("iptables -nvxL INPUT | awk '/dpt:7003/ {print $1}'")));
    EXPECT_GE(no_ports_b, 3000u);
    EXPECT_GE(no_ports_a, 2000u);
    EXPECT_EQ(firewall, 1000u);

    auto drops = [&](const std::string& rule, const std::string& reason, std::uint64_t netns) {
        return fmt::format("rtrace_drop_drops_total{{rule=\"{}\",reason=\"{}\",netns=\"{}\",layer=~\"l3|l4\"}}", rule, reason, netns);
    };
    EXPECT_EQ(prometheus.value_when(drops("udp.no_socket", "NO_SOCKET", ns.inode_b), no_ports_b), no_ports_b) << prometheus.log();
    EXPECT_EQ(prometheus.value_when(drops("udp.no_socket", "NO_SOCKET", ns.inode_a), no_ports_a), no_ports_a);
    EXPECT_EQ(prometheus.value_when(drops("netfilter.drop", "NETFILTER_DROP", ns.inode_b), firewall), firewall);
    // The device label is the packet's device in its namespace.
    auto by_dev = prometheus.query(fmt::format("rtrace_drop_drops_total{{rule=\"netfilter.drop\",netns=\"{}\"}}", ns.inode_b));
    ASSERT_EQ(by_dev.size(), 1u);
    EXPECT_EQ(by_dev[0].first["dev"], ns.dev_b);
    EXPECT_EQ(by_dev[0].first["netns_name"], ns.b) << "the ip netns name";
    // The probes and the build, as Prometheus stored them.
    EXPECT_EQ(prometheus.value_when("rtrace_drop_probe_info{rule=\"udp.no_socket\",state=\"attached\"}", 1), 1);
    EXPECT_EQ(prometheus.value_when("count(rtrace_drop_build_info{version!=\"\",kernel!=\"\"})", 1), 1);
    // Quiet: no event crossed to user space.
    EXPECT_EQ(prometheus.value_when("sum(rtrace_drop_events_total)", 0), 0);

    // promtool on a real scrape: nothing to say.
    const std::string scrape = tmp.path + "/scrape.txt";
    ASSERT_EQ(sh(fmt::format("curl -sf --max-time 5 -o {} http://127.0.0.1:{}/metrics", scrape, port)), 0);
    const std::string lint = sh_out(fmt::format("promtool check metrics < {} 2>&1; echo \"exit $?\"", scrape));
    EXPECT_EQ(lint, "exit 0\n") << lint;
    // Every metric the dashboard and the alert rules query is served.
    const std::string queries = sh_out(fmt::format("{} {}/contrib/check_queries.py --scrape {} {}/contrib/grafana/rtrace-drop.json "
                                                   "{}/contrib/prometheus/rtrace-drop.rules.yml 2>&1; echo \"exit $?\"",
                                                   kPy, RTD_SOURCE_DIR, scrape, RTD_SOURCE_DIR, RTD_SOURCE_DIR));
    EXPECT_NE(queries.find("exit 0\n"), std::string::npos) << queries;
    EXPECT_EQ(run.stop(), 0) << run.err();
    EXPECT_EQ(run.out(), "") << "--quiet prints no event";
}

// The sum of a metric's series in a scrape of the exporter whose labels
// contain each string of `with` (-1 when the scrape failed).
double scraped(int port, const std::string& metric, const std::vector<std::string>& with)
{
    const std::string text = sh_out(fmt::format("curl -sf --max-time 5 http://127.0.0.1:{}/metrics", port));
    if (text.empty()) return -1;
    double sum = 0;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if ((line.rfind(metric + "{", 0) == 0 || line.rfind(metric + " ", 0) == 0) &&
            std::all_of(with.begin(), with.end(), [&](const std::string& w) { return line.find(w) != std::string::npos; }))
            sum += std::stod(line.substr(line.rfind(' ') + 1));
    return sum;
}
double scraped(int port, const std::string& metric, const std::string& with) { return scraped(port, metric, std::vector{with}); }

std::string config(const std::vector<std::string>& packs, const std::string& exclude)
{
    std::string list;
    for (const std::string& p : packs) list += (list.empty() ? "\"" : ", \"") + p + "\"";
    return fmt::format("[rules]\npacks = [{}]\nexclude = [\"{}\"]\n", list, exclude);
}

// SIGHUP while drops flow: a pack added, a rule removed, a rule unchanged.
// The unchanged rule's counter never goes down and, once the drops stop,
// equals the firewall's count; a broken pack on the next reload keeps the
// old rules running and says so in the metrics.
TEST(MetricsE2E, ReloadKeepsCountingWithoutGapOrDoubleCount)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    TempFiles tmp("reload");
    const std::string cfg = tmp.path + "/config.toml";
    std::ofstream(cfg) << config({kPacks + "/netfilter", kPacks + "/udp"}, "udp.bad_checksum");
    ASSERT_EQ(sh(ns.in_b("iptables -A INPUT -p udp --dport 7101 -j DROP")), 0);
    const int port = free_port();
    DropTracer run({"--config", cfg, "--metrics", fmt::format("127.0.0.1:{}", port), "--quiet"});
    ASSERT_TRUE(run.ready()) << run.err();
    // In B only: another netfilter drop on the host counts in the rule too.
    const std::vector<std::string> unchanged{"rule=\"netfilter.drop\"", fmt::format("netns=\"{}\"", ns.inode_b)};
    EXPECT_EQ(scraped(port, "rtrace_drop_probe_info", "rule=\"udp.no_socket\",state=\"attached\""), 1);

    // About 4 s of drops, 100 at a time.
    const std::string flood = fmt::format("{} {} udp-flood {} 7101 100 16", kPy, kTraffic, ns.addr_b);
    sh_background(ns.in_a(fmt::format("sh -c 'for i in $(seq 40); do {}; sleep 0.1; done; touch {}/flood-done'", flood, tmp.path)));
    double last = 0;
    bool monotonic = true;
    auto watch = [&](std::chrono::milliseconds for_how_long) {
        auto end = std::chrono::steady_clock::now() + for_how_long;
        while (std::chrono::steady_clock::now() < end) {
            double now = scraped(port, "rtrace_drop_drops_total", unchanged);
            if (now >= 0) {
                if (now < last) monotonic = false;
                last = std::max(last, now);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    };
    watch(std::chrono::milliseconds(1000));
    EXPECT_GT(last, 0) << "drops are flowing before the reload";
    std::ofstream(cfg) << config({kPacks + "/netfilter", kPacks + "/udp", kPacks + "/tcp"}, "udp.no_socket");
    run.signal_only(SIGHUP);
    while (run.err().find("reloaded:") == std::string::npos && run.err().find("reload failed") == std::string::npos &&
           !fs::exists(tmp.path + "/flood-done"))
        watch(std::chrono::milliseconds(100));
    ASSERT_NE(run.err().find("reloaded:"), std::string::npos) << run.err();
    for (int i = 0; i < 200 && !fs::exists(tmp.path + "/flood-done"); ++i) watch(std::chrono::milliseconds(100));
    ASSERT_TRUE(fs::exists(tmp.path + "/flood-done"));
    watch(std::chrono::milliseconds(300));
    const std::uint64_t firewall = std::stoull(sh_out(ns.in_b("iptables -nvxL INPUT | awk '/dpt:7101/ {print $1}'")));
    EXPECT_EQ(firewall, 4000u);
    EXPECT_TRUE(monotonic) << "the unchanged rule's counter went down";
    EXPECT_EQ(scraped(port, "rtrace_drop_drops_total", unchanged), firewall) << run.err();
    EXPECT_EQ(scraped(port, "rtrace_drop_probe_info", "rule=\"udp.no_socket\""), 0) << "the removed rule is gone";
    EXPECT_GT(scraped(port, "rtrace_drop_probe_info", "rule=\"tcp."), 0) << "the added pack runs";
    EXPECT_EQ(scraped(port, "rtrace_drop_reloads_total", "result=\"ok\""), 1);
    EXPECT_EQ(scraped(port, "rtrace_drop_last_reload_success", ""), 1);

    // A broken pack: the reload fails, the old rules go on counting.
    std::ofstream(tmp.path + "/broken.rule") << "rule broken.one {\n    layer l9\n}\n";
    std::ofstream(cfg) << config({kPacks + "/netfilter", tmp.path + "/broken.rule"}, "");
    run.signal_only(SIGHUP);
    ASSERT_TRUE(run.err_has("reload failed: the rules loaded before keep running")) << run.err();
    EXPECT_EQ(scraped(port, "rtrace_drop_last_reload_success", ""), 0);
    EXPECT_EQ(scraped(port, "rtrace_drop_reloads_total", "result=\"failed\""), 1);
    sh(ns.in_a(flood));
    const std::uint64_t after = std::stoull(sh_out(ns.in_b("iptables -nvxL INPUT | awk '/dpt:7101/ {print $1}'")));
    EXPECT_EQ(after, firewall + 100);
    double counted = 0;
    for (int i = 0; i < 40 && counted != after; ++i, std::this_thread::sleep_for(std::chrono::milliseconds(50)))
        counted = scraped(port, "rtrace_drop_drops_total", unchanged);
    EXPECT_EQ(counted, after);
    EXPECT_GT(scraped(port, "rtrace_drop_probe_info", "rule=\"tcp."), 0) << "the rules before the failed reload still run";
    EXPECT_EQ(run.stop(), 0) << run.err();
}

// systemd's Type=notify: READY=1 with the attached count once attached,
// RELOADING=1 then READY=1 again around a SIGHUP. The notify socket is a
// datagram socket of the test's, as systemd's would be.
TEST(MetricsE2E, TellsSystemdWhenReadyAndReloading)
{
    NEED_ROOT_AND_BPF();
    TempFiles tmp("notify");
    const std::string path = tmp.path + "/notify.sock";
    const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    timeval limit{120, 0};  // a cold, sanitized compile
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    auto next = [&] {
        char buf[4096];
        const ssize_t n = recv(fd, buf, sizeof buf, 0);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("(nothing)");
    };
    DropTracer run({kPacks + "/udp"}, RTD_BINARY, {"NOTIFY_SOCKET=" + path});
    const std::string ready = next();  // "READY=1\nSTATUS=3 of 4 probes attached" on 6.18
    EXPECT_TRUE(ready.starts_with("READY=1\nSTATUS=") && ready.ends_with(" probes attached")) << ready << run.err();
    ASSERT_TRUE(run.ready()) << run.err();
    run.signal_only(SIGHUP);
    EXPECT_EQ(next(), "RELOADING=1");
    EXPECT_EQ(next(), ready) << run.err();
    EXPECT_EQ(run.stop(), 0) << run.err();
    close(fd);
}

// Bad --metrics input is refused before anything is attached: exit 2 and
// no status table.
TEST(MetricsE2E, BadInputBeforeAttaching)
{
    NEED_ROOT_AND_BPF();
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(listen(fd, 1), 0);
    ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    const int busy = ntohs(a.sin_port);
    struct Case {
        std::vector<std::string> args;
        std::string says;
    } cases[] = {
        {{"--metrics", fmt::format("127.0.0.1:{}", busy)}, fmt::format("cannot listen on 127.0.0.1:{}: Address already in use", busy)},
        {{"--metrics", "localhost:9977"}, "'localhost' is not an IPv4 address"},
        {{"--metrics", "127.0.0.1:99999"}, "the port must be a number from 1 to 65535"},
        {{"--metrics", "192.0.2.1:9977"}, "cannot listen on 192.0.2.1:9977: Cannot assign requested address"},
        {{"--metrics", ":9977", "--metrics-labels", "rule,flow"}, "'flow' is not a label of rtrace_drop_drops_total"},
        {{"--metrics", ":9977", "--once"}, "serves no metrics"},
    };
    for (const Case& c : cases) {
        std::vector<std::string> args{kPacks + "/udp"};
        args.insert(args.end(), c.args.begin(), c.args.end());
        DropTracer run(args);
        EXPECT_EQ(run.wait(), 2) << run.err();
        EXPECT_NE(run.err().find(c.says), std::string::npos) << run.err();
        EXPECT_EQ(run.err().find("tp_btf"), std::string::npos) << "nothing attached: " << run.err();
    }
    close(fd);
}

}  // namespace
}  // namespace e2e
