#include "packtest/tc_drop.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

namespace rtd::packtest {

// The tc classifier and action modules (matchall, gact) are missing on some
// machines, so the program is loaded and attached with libbpf, in a child
// that enters the namespace (the program lives on with the device).
std::string tc_drop_all(const std::string& netns_path, const std::string& dev)
{
    pid_t pid = fork();
    if (pid == 0) {
        int nsfd = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
        if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) _exit(2);
        int ifindex = static_cast<int>(if_nametoindex(dev.c_str()));
        if (ifindex == 0) _exit(5);
        const struct bpf_insn prog[] = {
            {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 2},  // r0 = TC_ACT_SHOT
            {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
        };
        int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "rtd_tc_drop", "GPL", prog, 2, nullptr);
        if (fd < 0) _exit(3);
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
        bpf_tc_hook_create(&hook);
        LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = fd);
        _exit(bpf_tc_attach(&hook, &opts) == 0 ? 0 : 4);
    }
    if (pid < 0) return "fork failed";
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(status)) return "the child attaching it died";
    switch (WEXITSTATUS(status)) {
    case 0: return "";
    case 2: return "cannot enter " + netns_path;
    case 3: return "the kernel refused the tc program";
    case 5: return "no device " + dev;
    default: return "attaching the tc program to " + dev + " failed";
    }
}

}  // namespace rtd::packtest
