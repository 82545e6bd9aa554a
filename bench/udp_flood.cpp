// A fast, bounded UDP sender for the drop-cost benchmark: COUNT datagrams
// of SIZE bytes to ADDR:PORT in batches of 64 (sendmmsg), then prints how
// many the kernel took. Run inside the benchmark's own namespace only.
//
//   udp_flood ADDR PORT COUNT [SIZE=16]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main(int argc, char** argv)
{
    if (argc < 4) {
        std::fprintf(stderr, "usage: udp_flood ADDR PORT COUNT [SIZE]\n");
        return 2;
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<unsigned short>(std::atoi(argv[2])));
    if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) {
        std::fprintf(stderr, "udp_flood: bad address %s\n", argv[1]);
        return 2;
    }
    const long count = std::atol(argv[3]);
    const std::size_t size = argc > 4 ? static_cast<std::size_t>(std::atol(argv[4])) : 16;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        std::perror("udp_flood: socket");
        return 1;
    }
    constexpr int kBatch = 64;
    std::vector<char> payload(size, 'x');
    iovec iov{payload.data(), payload.size()};
    std::vector<mmsghdr> msgs(kBatch);
    for (mmsghdr& m : msgs) {
        m.msg_hdr.msg_name = &to;
        m.msg_hdr.msg_namelen = sizeof to;
        m.msg_hdr.msg_iov = &iov;
        m.msg_hdr.msg_iovlen = 1;
    }
    long sent = 0;
    while (sent < count) {
        int n = sendmmsg(fd, msgs.data(), static_cast<unsigned>(std::min<long>(kBatch, count - sent)), 0);
        if (n < 0) {
            if (errno == ENOBUFS || errno == EAGAIN || errno == ECONNREFUSED) continue;
            std::perror("udp_flood: sendmmsg");
            break;
        }
        sent += n;
    }
    std::printf("%ld\n", sent);
    close(fd);
    return 0;
}
