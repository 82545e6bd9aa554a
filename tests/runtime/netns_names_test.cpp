// Network namespace names (runtime/netns_names.h): the cgroup parser on
// lines as docker, containerd under Kubernetes, podman and systemd write
// them; the resolver over a fake /proc and /run/netns (its clock moved by
// the test, so the scan bounds are seen to hold); and, as root, a real
// `ip netns add` namespace and the host's.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "runtime/netns_names.h"
#include "tests/kernel_support.h"

namespace rtd {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kId = "4f1c0d7e9a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5";  // 64 hex digits
const std::string kId12 = "4f1c0d7e9a2b";

TEST(ContainerOfCgroup, DockerCgroupV2Systemd)
{
    EXPECT_EQ(container_of_cgroup("0::/system.slice/docker-" + kId + ".scope\n"), "docker:" + kId12);
    // A process in a sub-cgroup the container made for itself.
    EXPECT_EQ(container_of_cgroup("0::/system.slice/docker-" + kId + ".scope/init.scope\n"), "docker:" + kId12);
}

TEST(ContainerOfCgroup, DockerCgroupV1Multiline)
{
    const std::string text = "12:pids:/docker/" + kId + "\n11:memory:/docker/" + kId + "\n" + "1:name=systemd:/docker/" + kId +
                             "\n0::/system.slice/containerd.service\n";
    EXPECT_EQ(container_of_cgroup(text), "docker:" + kId12);
    // The first line that names a container wins, wherever it is.
    EXPECT_EQ(container_of_cgroup("12:pids:/\n11:cpu,cpuacct:/docker/" + kId), "docker:" + kId12);
}

TEST(ContainerOfCgroup, ContainerdUnderKubernetesIsThePod)
{
    const std::string line = "0::/kubepods.slice/kubepods-besteffort.slice/"
                             "kubepods-besteffort-pod6b2a9c1e_3f4d_4e5a_9b8c_7d6e5f4a3b2c.slice/cri-containerd-" +
                             kId + ".scope\n";
    EXPECT_EQ(container_of_cgroup(line), "k8s:6b2a9c1e-3f4d-4e5a-9b8c-7d6e5f4a3b2c");
    // Guaranteed pods have no QoS slice; cgroupfs driver paths keep the dashes.
    EXPECT_EQ(container_of_cgroup("0::/kubepods.slice/kubepods-pod6b2a9c1e_3f4d_4e5a_9b8c_7d6e5f4a3b2c.slice/cri-containerd-" +
                                  kId + ".scope"),
              "k8s:6b2a9c1e-3f4d-4e5a-9b8c-7d6e5f4a3b2c");
    EXPECT_EQ(container_of_cgroup("11:pids:/kubepods/burstable/pod6b2a9c1e-3f4d-4e5a-9b8c-7d6e5f4a3b2c/" + kId + "\n"),
              "k8s:6b2a9c1e-3f4d-4e5a-9b8c-7d6e5f4a3b2c");
    // Under kubepods without a pod uid: the container.
    EXPECT_EQ(container_of_cgroup("0::/kubepods.slice/cri-containerd-" + kId + ".scope"), "containerd:" + kId12);
    // Outside Kubernetes.
    EXPECT_EQ(container_of_cgroup("0::/system.slice/cri-containerd-" + kId + ".scope"), "containerd:" + kId12);
}

TEST(ContainerOfCgroup, PodmanAndCrio)
{
    EXPECT_EQ(container_of_cgroup("0::/machine.slice/libpod-" + kId + ".scope\n"), "podman:" + kId12);
    EXPECT_EQ(container_of_cgroup("0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kId + ".scope/container\n"),
              "podman:" + kId12);
    EXPECT_EQ(container_of_cgroup("0::/libpod_parent/libpod-" + kId + "\n"), "podman:" + kId12);
    // conmon runs beside the container, in the host's namespace: not a container.
    EXPECT_EQ(container_of_cgroup("0::/machine.slice/libpod-conmon-" + kId + ".scope\n"), "");
    EXPECT_EQ(container_of_cgroup("0::/system.slice/crio-" + kId + ".scope\n"), "crio:" + kId12);
}

TEST(ContainerOfCgroup, NoContainer)
{
    EXPECT_EQ(container_of_cgroup("0::/user.slice/user-0.slice/session-3.scope\n"), "");
    EXPECT_EQ(container_of_cgroup("0::/init.scope\n"), "");
    EXPECT_EQ(container_of_cgroup("0::/\n"), "");  // inside a cgroup namespace
    EXPECT_EQ(container_of_cgroup("0::/system.slice/docker.service\n"), "");
    EXPECT_EQ(container_of_cgroup("0::/system.slice/docker-notanid.scope\n"), "");
    EXPECT_EQ(container_of_cgroup("0::/docker/short12\n"), "");  // not hex
    EXPECT_EQ(container_of_cgroup("0::/kubepods.slice/kubepods-besteffort.slice\n"), "");
    EXPECT_EQ(container_of_cgroup("0::/kubepods.slice/kubepods-podnotauid.slice\n"), "");
    EXPECT_EQ(container_of_cgroup(""), "");
    EXPECT_EQ(container_of_cgroup("garbage without colons\n::\n:\n"), "");
}

TEST(NetnsInodeOfLink, ReadlinkText)
{
    EXPECT_EQ(netns_inode_of_link("net:[4026531840]"), 4026531840u);
    EXPECT_EQ(netns_inode_of_link("net:[]"), 0u);
    EXPECT_EQ(netns_inode_of_link("mnt:[4026531840]"), 0u);
    EXPECT_EQ(netns_inode_of_link("net:[12x]"), 0u);
    EXPECT_EQ(netns_inode_of_link("net:[99999999999999999999999]"), 0u);
}

// A /run/netns and a /proc of the test's own making. Namespace inodes of
// `ip netns` names are the inodes of real files in run_netns; processes
// are directories with ns/net -> "net:[INODE]" and a cgroup file.
class FakeTree : public ::testing::Test {
protected:
    void SetUp() override
    {
        dir = fs::temp_directory_path() / ("rtd-netns-names-" + std::to_string(getpid()) + "-" +
                                           ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir);
        fs::create_directories(dir / "run_netns");
        fs::create_directories(dir / "proc");
        blue = ip_netns("blue");
        process(1, kHost, "0::/init.scope\n");
        process(200, blue, "0::/user.slice/user-0.slice/session-1.scope\n");  // in blue: the ip netns name wins
        process(300, kDocker, "0::/system.slice/docker-" + kId + ".scope\n");
        process(301, kDocker, "0::/system.slice/docker-" + kId + ".scope\n");
        // Lowest PID first: an nsenter'd shell, then the pod's container.
        process(250, kPod, "0::/user.slice/user-0.slice/session-1.scope\n");
        process(260, kPod, "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod11111111_2222_3333_4444_555555555555.slice/cri-containerd-" + kId + ".scope\n");
        process(400, kUnnamed, "0::/user.slice\n");
        // Entries a scan skips.
        fs::create_directories(dir / "proc/500/ns");
        fs::create_symlink("garbage", dir / "proc/500/ns/net");
        fs::create_directories(dir / "proc/501");
        fs::create_directories(dir / "proc/abc/ns");
        fs::create_symlink("net:[1000000777]", dir / "proc/abc/ns/net");
        fs::create_symlink("1", dir / "proc/self");
        fs::create_directories(dir / "proc/600/ns");  // no cgroup file
        fs::create_symlink("net:[1000000600]", dir / "proc/600/ns/net");
    }
    void TearDown() override { fs::remove_all(dir); }

    std::uint64_t ip_netns(const std::string& name)
    {
        std::ofstream(dir / "run_netns" / name) << "";
        struct stat st {};
        EXPECT_EQ(::stat((dir / "run_netns" / name).c_str(), &st), 0);
        return st.st_ino;
    }
    void process(int pid, std::uint64_t inode, const std::string& cgroup)
    {
        const fs::path p = dir / "proc" / std::to_string(pid);
        fs::create_directories(p / "ns");
        fs::create_symlink("net:[" + std::to_string(inode) + "]", p / "ns/net");
        std::ofstream(p / "cgroup") << cgroup;
    }
    NetnsNames names(NetnsLimits limits = {})
    {
        limits.now = [this] { return now; };
        return NetnsNames({(dir / "run_netns").string(), (dir / "proc").string()}, std::move(limits));
    }

    static constexpr std::uint64_t kHost = 1000000001, kDocker = 1000000300, kPod = 1000000250, kUnnamed = 1000000400;
    fs::path dir;
    std::uint64_t blue = 0;
    std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
};

TEST_F(FakeTree, EveryKindOfNameFromOneScan)
{
    NetnsNames n = names();
    EXPECT_EQ(n.name(blue), "blue");
    EXPECT_EQ(n.name(kHost), "host");
    EXPECT_EQ(n.name(kDocker), "docker:" + kId12);
    EXPECT_EQ(n.name(kPod), "k8s:11111111-2222-3333-4444-555555555555");
    EXPECT_EQ(n.name(kUnnamed), "");
    EXPECT_EQ(n.name(1000000600), "");  // no cgroup file
    EXPECT_EQ(n.name(1000000777), "");  // not a process directory
    EXPECT_EQ(n.scans(), 1u);
}

TEST_F(FakeTree, IpNetnsNameWinsOverHostAndContainers)
{
    // `ip netns attach` can name init's namespace too.
    fs::remove(dir / "proc/1/ns/net");
    fs::create_symlink("net:[" + std::to_string(blue) + "]", dir / "proc/1/ns/net");
    fs::remove(dir / "proc/300/ns/net");
    fs::create_symlink("net:[" + std::to_string(blue) + "]", dir / "proc/300/ns/net");
    NetnsNames n = names();
    EXPECT_EQ(n.name(blue), "blue");
}

TEST_F(FakeTree, UnknownInodesRescanAtMostOncePerInterval)
{
    NetnsNames n = names();
    const std::uint64_t later = 1000000700;
    EXPECT_EQ(n.name(later), "");
    EXPECT_EQ(n.scans(), 1u);
    // The namespace appears (a container starts), but the interval holds.
    process(700, later, "0::/machine.slice/libpod-" + kId + ".scope\n");
    for (int i = 0; i < 100; ++i) EXPECT_EQ(n.name(later), "");
    now += 9s;
    EXPECT_EQ(n.name(later), "");
    EXPECT_EQ(n.scans(), 1u);
    now += 1s;
    EXPECT_EQ(n.name(later), "podman:" + kId12);
    EXPECT_EQ(n.scans(), 2u);
    // Known names do not scan.
    now += 9s;
    for (std::uint64_t inode : {blue, kHost, kDocker, later}) EXPECT_NE(n.name(inode), "");
    EXPECT_EQ(n.scans(), 2u);
}

TEST_F(FakeTree, RefreshScansNow)
{
    NetnsNames n = names();
    EXPECT_EQ(n.name(1000000800), "");
    process(800, 1000000800, "0::/system.slice/docker-" + kId + ".scope\n");
    n.refresh();
    EXPECT_EQ(n.name(1000000800), "docker:" + kId12);
    EXPECT_EQ(n.scans(), 2u);
}

TEST_F(FakeTree, NamesAreLookedUpAgainAfterMaxAge)
{
    NetnsNames n = names();
    EXPECT_EQ(n.name(blue), "blue");
    fs::rename(dir / "run_netns/blue", dir / "run_netns/green");  // same inode, new name
    now += 59s;
    EXPECT_EQ(n.name(blue), "blue");
    EXPECT_EQ(n.scans(), 1u);
    now += 1s;
    EXPECT_EQ(n.name(blue), "green");
    EXPECT_EQ(n.scans(), 2u);
    // Gone: "" (and the inode may come back as another namespace).
    fs::remove(dir / "run_netns/green");
    fs::remove(dir / "proc/200/ns/net");
    now += 60s;
    EXPECT_EQ(n.name(blue), "");
}

TEST_F(FakeTree, AtMostMaxEntriesKeepingThoseAskedFor)
{
    NetnsLimits limits;
    limits.max_entries = 2;
    NetnsNames n = names(limits);
    EXPECT_EQ(n.name(kPod), "k8s:11111111-2222-3333-4444-555555555555");
    // Two kept: the pod (asked) and the first other found (blue, from /run/netns).
    EXPECT_EQ(n.name(blue), "blue");
    EXPECT_EQ(n.name(kDocker), "");
    EXPECT_EQ(n.scans(), 1u);
    now += 10s;
    // Asked since the last scan: blue and docker, both kept.
    EXPECT_EQ(n.name(kDocker), "docker:" + kId12);
    EXPECT_EQ(n.scans(), 2u);
}

TEST(NetnsNamesNoTree, MissingDirectoriesAreEmptyNames)
{
    NetnsNames n({"/nonexistent/run/netns", "/nonexistent/proc"});
    EXPECT_EQ(n.name(4026531840), "");
    n.refresh();
    EXPECT_EQ(n.name(4026531840), "");
}

// A real namespace, as root: `ip netns add`, deleted whatever happens.
class IpNetns {
public:
    explicit IpNetns(std::string name) : name_(std::move(name))
    {
        ok_ = std::system(("ip netns add " + name_ + " 2>/dev/null").c_str()) == 0;
    }
    ~IpNetns()
    {
        if (ok_ && std::system(("ip netns delete " + name_).c_str()) != 0) ADD_FAILURE() << "ip netns delete " << name_ << " failed";
    }
    IpNetns(const IpNetns&) = delete;
    IpNetns& operator=(const IpNetns&) = delete;
    bool ok() const { return ok_; }
    const std::string& name() const { return name_; }

private:
    std::string name_;
    bool ok_ = false;
};

std::uint64_t inode_of(const std::string& path)
{
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

TEST(NetnsNamesReal, IpNetnsNameAndTheHost)
{
    RTD_NEED_KERNEL(test::have_root(), "naming a real namespace needs root (ip netns add)");
    std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now();
    NetnsLimits limits;
    limits.now = [&] { return now; };
    NetnsNames names({}, limits);

    const std::uint64_t self = inode_of("/proc/self/ns/net");
    ASSERT_NE(self, 0u);
    const std::uint64_t init = inode_of("/proc/1/ns/net");
    if (init == 0)  // init's namespace cannot be read here (ptrace access to PID 1 refused): not named
        EXPECT_EQ(names.name(self), "") << "/proc/1/ns/net is unreadable, so the host is not named";
    else if (self == init)
        EXPECT_EQ(names.name(self), "host");
    else  // the tests run in a namespace of their own: whatever names it, not "host"
        EXPECT_NE(names.name(self), "host");

    IpNetns ns("rtd-nn-test-" + std::to_string(getpid()));
    ASSERT_TRUE(ns.ok()) << "ip netns add " << ns.name() << " failed";
    const std::uint64_t inode = inode_of("/run/netns/" + ns.name());
    ASSERT_NE(inode, 0u);
    ASSERT_NE(inode, self);
    // Made after the first scan: "" until the interval has passed, then its name.
    EXPECT_EQ(names.name(inode), "");
    now += 10s;
    EXPECT_EQ(names.name(inode), ns.name());
    EXPECT_EQ(names.scans(), 2u);
    // A resolver of its own with the real clock and paths.
    EXPECT_EQ(NetnsNames().name(inode), ns.name());
}

}  // namespace
}  // namespace rtd
