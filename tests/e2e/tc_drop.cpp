#include "tests/e2e/tc_drop.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

namespace e2e {

// A tc ingress program that drops everything, attached inside namespace
// `ns` (the tc classifier and action modules are missing on these
// machines, so the program is loaded and attached with libbpf).
bool tc_drop_all(const std::string& ns, const std::string& dev)
{
    pid_t pid = fork();
    if (pid == 0) {
        int nsfd = open(("/var/run/netns/" + ns).c_str(), O_RDONLY);
        if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) _exit(2);
        const struct bpf_insn prog[] = {
            {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 2},  // r0 = TC_ACT_SHOT
            {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
        };
        int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "e2e_tc_drop", "GPL", prog, 2, nullptr);
        if (fd < 0) _exit(3);
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(if_nametoindex(dev.c_str())), .attach_point = BPF_TC_INGRESS);
        bpf_tc_hook_create(&hook);
        LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = fd);
        _exit(bpf_tc_attach(&hook, &opts) == 0 ? 0 : 4);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace e2e
