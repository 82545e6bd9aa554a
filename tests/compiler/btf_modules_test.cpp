// Kernel modules' BTF (compiler/btf_modules.h): small split BTFs built here
// on top of the fixture BTF stand for modules, as raw files and as ELF files
// (plain, xz, zstd, gzip); then Debian's 6.1 and 6.12 kernel packages (cached
// by tests/vm/vm.sh) with their real module trees.
#include <gtest/gtest.h>
#include <bpf/btf.h>
#include <elf.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>

#include "compiler/btf_modules.h"
#include "compiler/module_file.h"
#include "tests/compiler/test_util.h"
#include "tests/kernel_support.h"

namespace rtd {
namespace {

std::unique_ptr<Btf> fresh_fixture()
{
    std::string error;
    auto b = Btf::load(RTD_FIXTURE_BTF, error);
    if (!b) throw std::runtime_error("cannot load the fixture BTF: " + error);
    return b;
}

// A module's raw split BTF: `add` fills it on top of the fixture's types.
// The base is its own copy of the fixture: adding types on it makes
// libbpf move its memory, which test::fixture_btf()'s name index points into.
std::string module_btf(const std::function<void(struct btf*, const struct btf*)>& add)
{
    static struct btf* base = btf__parse(RTD_FIXTURE_BTF, nullptr);
    std::unique_ptr<struct btf, decltype(&btf__free)> b(btf__new_empty_split(base), btf__free);
    add(b.get(), base);
    __u32 size = 0;
    const void* raw = btf__raw_data(b.get(), &size);
    return std::string(static_cast<const char*>(raw), size);
}

int base_type(const struct btf* base, const char* name, int kind)
{
    int id = btf__find_by_name_kind(base, name, kind);
    if (id <= 0) throw std::runtime_error(std::string("the fixture has no ") + name);
    return id;
}

// struct shared_table { int id; struct sk_buff *skb; }, as two modules both carry it.
int add_shared_table(struct btf* b, const struct btf* base)
{
    int skb = btf__add_ptr(b, base_type(base, "sk_buff", BTF_KIND_STRUCT));  // fields must follow their struct directly
    int table = btf__add_struct(b, "shared_table", 16);
    btf__add_field(b, "id", base_type(base, "int", BTF_KIND_INT), 0, 0);
    btf__add_field(b, "skb", skb, 64, 0);
    return table;
}

// `name(struct shared_table *table, <second> <second_name>)` returning `ret`.
void add_function(struct btf* b, const char* name, int ret, int table, int second, const char* second_name)
{
    int table_pointer = btf__add_ptr(b, table);  // parameters must follow their prototype directly
    int proto = btf__add_func_proto(b, ret);
    btf__add_func_param(b, "table", table_pointer);
    btf__add_func_param(b, second_name, second);
    btf__add_func(b, name, BTF_FUNC_GLOBAL, proto);
}

// Like ip_tables: a_do_table, a clone a_helper.isra.0, and shared_init.
std::string module_a()
{
    return module_btf([](struct btf* b, const struct btf* base) {
        int table = add_shared_table(b, base);
        int skb = btf__add_ptr(b, base_type(base, "sk_buff", BTF_KIND_STRUCT));
        int uint = base_type(base, "unsigned int", BTF_KIND_INT), sint = base_type(base, "int", BTF_KIND_INT);
        add_function(b, "a_do_table", uint, table, skb, "skb");
        add_function(b, "a_helper.isra.0", sint, table, sint, "flags");
        add_function(b, "shared_init", sint, table, sint, "a");
    });
}

// Like nf_tables: the same struct, b_do_chain, shared_init, and
// tcp_add_backlog, which the "kernel" (the fixture) defines already.
std::string module_b()
{
    return module_btf([](struct btf* b, const struct btf* base) {
        int sint = base_type(base, "int", BTF_KIND_INT);
        int table = add_shared_table(b, base);
        add_function(b, "b_do_chain", sint, table, sint, "verdict");
        add_function(b, "shared_init", sint, table, sint, "b");
        add_function(b, "tcp_add_backlog", sint, table, sint, "b");
    });
}

// A relocatable ELF file whose only section besides its names is `btf`, named `section`.
std::string elf_with_btf(const std::string& btf, const std::string& section = ".BTF")
{
    const std::string names = std::string(1, '\0') + section + std::string(1, '\0') + ".shstrtab" + std::string(1, '\0');
    const std::size_t btf_at = sizeof(Elf64_Ehdr), names_at = btf_at + btf.size();
    const std::size_t headers_at = (names_at + names.size() + 7) / 8 * 8;
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_REL;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_shoff = headers_at;
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_shentsize = sizeof(Elf64_Shdr);
    eh.e_shnum = 3;
    eh.e_shstrndx = 2;
    Elf64_Shdr sections[3]{};
    sections[1] = {1, SHT_PROGBITS, 0, 0, btf_at, btf.size(), 0, 0, 4, 0};
    sections[2] = {static_cast<Elf64_Word>(section.size() + 2), SHT_STRTAB, 0, 0, names_at, names.size(), 0, 0, 1, 0};
    std::string out(reinterpret_cast<const char*>(&eh), sizeof eh);
    out += btf + names;
    out.resize(headers_at, '\0');
    out.append(reinterpret_cast<const char*>(sections), sizeof sections);
    return out;
}

std::string xz(const std::string& data)
{
    std::string out(lzma_stream_buffer_bound(data.size()), '\0');
    std::size_t used = 0;
    EXPECT_EQ(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, nullptr, reinterpret_cast<const std::uint8_t*>(data.data()), data.size(),
                                      reinterpret_cast<std::uint8_t*>(out.data()), &used, out.size()),
              LZMA_OK);
    out.resize(used);
    return out;
}

std::string zstd(const std::string& data)
{
    std::string out(ZSTD_compressBound(data.size()), '\0');
    std::size_t used = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3);
    EXPECT_FALSE(ZSTD_isError(used));
    out.resize(used);
    return out;
}

std::string gzip_file(const std::string& path, const std::string& data)
{
    gzFile f = gzopen(path.c_str(), "wb");
    EXPECT_EQ(gzwrite(f, data.data(), static_cast<unsigned>(data.size())), static_cast<int>(data.size()));
    gzclose(f);
    return path;
}

std::string read_file_prefix(const std::string& path, std::size_t size) { return test::read_file(path).substr(0, size); }

ModuleBtfFile module_file(const std::string& path) { return {module_name_from_path(path), path}; }

std::unique_ptr<Btf> merge(const std::vector<ModuleBtfFile>& modules, std::string& error)
{
    return Btf::with_modules(fresh_fixture(), modules, error);
}

std::string merge_error(const std::string& path)
{
    std::string error;
    EXPECT_FALSE(merge({module_file(path)}, error)) << path;
    return error;
}

std::string param_spelling(const Btf& btf, const std::string& function, std::size_t i)
{
    auto sig = btf.function(function);
    return sig && i < sig->params.size() ? sig->params[i].name + ": " + btf.spelling(sig->params[i].type) : "(none)";
}

TEST(BtfModules, MergesModulesThatShareAStruct)
{
    test::TempDir dir;
    std::string error;
    auto merged = merge({{"mod_a", dir.write("mod_a", module_a())}, {"mod_b", dir.write("mod_b", module_b())}}, error);
    ASSERT_TRUE(merged) << error;

    EXPECT_EQ(param_spelling(*merged, "a_do_table", 0), "table: struct shared_table *");
    EXPECT_EQ(param_spelling(*merged, "a_do_table", 1), "skb: struct sk_buff *");
    EXPECT_EQ(merged->spelling(merged->function("a_do_table")->ret), "unsigned int");
    EXPECT_EQ(param_spelling(*merged, "b_do_chain", 1), "verdict: int");
    EXPECT_EQ(param_spelling(*merged, "a_helper", 1), "flags: int");  // the clone a_helper.isra.0
    // The fixture's own types keep their ids, and module types point at them.
    const Type table = merged->function("a_do_table")->params[0].type.pointee();
    auto skb = merged->member(table, "skb");
    ASSERT_TRUE(skb);
    EXPECT_EQ(skb->type.pointee().base, test::fixture_btf().find_tagged(Btf::Tag::Struct, "sk_buff")->base);
    EXPECT_EQ(merged->function("kfree_skb_reason")->params[0].type, test::fixture_btf().function("kfree_skb_reason")->params[0].type);

    // Both modules' struct shared_table are one type.
    EXPECT_EQ(merged->function("b_do_chain")->params[0].type.pointee().base, table.base);
    int copies = 0;
    for (std::uint32_t id = 1; id < btf__type_cnt(merged->raw()); ++id) {
        const struct btf_type* t = btf__type_by_id(merged->raw(), id);
        copies += btf_is_struct(t) && std::strcmp(btf__name_by_offset(merged->raw(), t->name_off), "shared_table") == 0;
    }
    EXPECT_EQ(copies, 1);

    EXPECT_EQ(merged->module_of_function("a_do_table"), "mod_a");
    EXPECT_EQ(merged->module_of_function("a_helper"), "mod_a");
    EXPECT_EQ(merged->module_of_function("b_do_chain"), "mod_b");
    EXPECT_EQ(merged->module_of_function("shared_init"), "mod_a");  // the first module, as function() finds it
    EXPECT_EQ(param_spelling(*merged, "shared_init", 1), "a: int");
    EXPECT_EQ(merged->module_of_function("tcp_add_backlog"), "");  // vmlinux's own comes first
    EXPECT_EQ(merged->module_of_function("kfree_skb_reason"), "");
    EXPECT_EQ(merged->module_of_function("no_such_function"), "");
    EXPECT_EQ(test::fixture_btf().module_of_function("kfree_skb_reason"), "");
}

// libbpf moves the kernel BTF's memory when the merge first looks a string
// up in it; a module whose first name is the kernel's ("sock") made it read
// that string after freeing it, and the kernel's name index pointed there.
TEST(BtfModules, MergeSurvivesLibbpfMovingTheKernelsMemory)
{
    test::TempDir dir;
    const std::string path = dir.write("mod_s", module_btf([](struct btf* b, const struct btf* base) {
        btf__add_fwd(b, "sock", BTF_FWD_STRUCT);
        add_function(b, "s_do", base_type(base, "int", BTF_KIND_INT), btf__add_struct(b, "s_table", 0),
                     base_type(base, "int", BTF_KIND_INT), "sock");
    }));
    auto kernel = fresh_fixture();
    ASSERT_TRUE(kernel->function("kfree_skb_reason"));  // builds its name index
    std::string error;
    auto merged = Btf::with_modules(std::move(kernel), {{"mod_s", path}}, error);
    ASSERT_TRUE(merged) << error;
    EXPECT_EQ(param_spelling(*merged, "s_do", 1), "sock: int");
    EXPECT_EQ(param_spelling(*merged, "kfree_skb_reason", 0), "skb: struct sk_buff *");
}

TEST(BtfModules, NoModulesIsTheKernelItself)
{
    std::string error;
    auto kernel = fresh_fixture();
    const Btf* before = kernel.get();
    EXPECT_EQ(Btf::with_modules(std::move(kernel), {}, error).get(), before);
}

TEST(BtfModules, RefusesBrokenModuleFiles)
{
    test::TempDir dir;
    const std::string a = module_a();
    EXPECT_NE(merge_error(dir.write("cut", a.substr(0, a.size() / 2))).find("cut: not valid BTF"), std::string::npos);
    EXPECT_NE(merge_error(dir.write("header", a.substr(0, 10))).find("not valid BTF"), std::string::npos);
    EXPECT_NE(merge_error(dir.write("garbage", "hello, world")).find("neither BTF nor an ELF file"), std::string::npos);
    EXPECT_NE(merge_error(dir.write("empty", "")).find("neither BTF"), std::string::npos);
    EXPECT_NE(merge_error(dir.path() + "/missing").find("No such file"), std::string::npos);

    std::string dangling = module_btf([](struct btf* b, const struct btf*) { btf__add_ptr(b, 99999); });
    EXPECT_NE(merge_error(dir.write("dangling", dangling)).find("refers to type #99999, which does not exist"), std::string::npos);

    // The first type's name offset moved past the end of the strings.
    std::string bad_name = module_a();
    struct btf_header h;
    std::memcpy(&h, bad_name.data(), sizeof h);
    const std::uint32_t far = 0x00ffffff;
    std::memcpy(bad_name.data() + h.hdr_len + h.type_off, &far, sizeof far);
    EXPECT_NE(merge_error(dir.write("bad_name", bad_name)).find("name outside the string section"), std::string::npos);

    std::string not_c = module_btf([](struct btf* b, const struct btf*) { btf__add_struct(b, "x; }", 4); });
    EXPECT_NE(merge_error(dir.write("not_c", not_c)).find("refused: type"), std::string::npos);

    const std::string elf = elf_with_btf(a);
    // libelf reads a cut section header table as no sections.
    EXPECT_NE(merge_error(dir.write("cut.ko", elf.substr(0, elf.size() - 100))).find("cut.ko: no .BTF section"), std::string::npos);
    EXPECT_NE(merge_error(dir.write("cut_data.ko", elf.substr(0, 200))).find("cut_data.ko: "), std::string::npos);
    EXPECT_NE(merge_error(dir.write("no_btf.ko", elf_with_btf(a, ".BTF.ext"))).find("no .BTF section"), std::string::npos);
    const std::string packed = xz(elf);
    EXPECT_NE(merge_error(dir.write("cut.ko.xz", packed.substr(0, packed.size() / 2))).find("truncated xz data"), std::string::npos);
    const std::string squeezed = zstd(elf);
    EXPECT_NE(merge_error(dir.write("cut.ko.zst", squeezed.substr(0, squeezed.size() / 2))).find("truncated zstd data"),
              std::string::npos);
    const std::string zipped = gzip_file(dir.path() + "/whole.ko.gz", elf), cut_zipped = read_file_prefix(zipped, 200);
    EXPECT_NE(merge_error(dir.write("cut.ko.gz", cut_zipped)).find("truncated gzip data"), std::string::npos);
    EXPECT_NE(merge_error(dir.write("bad.ko.xz", "\xfd" "7zXZ" + std::string(100, 'x'))).find("xz"), std::string::npos);
    EXPECT_NE(merge_error(dir.write("bad.ko.gz", "\x1f\x8b" + std::string(100, 'x'))).find("gzip"), std::string::npos);
}

// Bytes changed at random in a module file give a merge or an error, never
// a crash (the sanitizer builds run this).
TEST(BtfModules, SurvivesCorruptedModules)
{
    test::TempDir dir;
    const std::string raw = module_a(), elf = elf_with_btf(raw);
    std::uint32_t seed = 1;
    auto random = [&] { return seed = seed * 1103515245u + 12345u, seed >> 8; };
    int merged = 0;
    for (int round = 0; round < 200; ++round) {
        std::string bytes = round % 2 ? raw : elf;
        for (int flips = 1 + random() % 4; flips > 0; --flips) bytes[random() % bytes.size()] = static_cast<char>(random());
        const std::string path = dir.write("m" + std::to_string(round % 2) + ".ko", bytes);
        std::string error;
        merged += merge({module_file(path)}, error) != nullptr;
        modules_defining(test::fixture_btf(), {"a_do_table"}, {module_file(path)});
    }
    EXPECT_GT(merged, 0);
}

TEST(BtfModules, ReadsModuleFilesPlainAndCompressed)
{
    test::TempDir dir;
    const std::string raw = module_a(), elf = elf_with_btf(raw);
    for (const std::string& path : {dir.write("plain/mod_a.ko", elf), dir.write("xz/mod_a.ko.xz", xz(elf)),
                                    dir.write("zstd/mod_a.ko.zst", zstd(elf)), gzip_file(dir.path() + "/mod_a.ko.gz", elf)}) {
        std::string error;
        auto bytes = module_btf_bytes(path, error);
        ASSERT_TRUE(bytes) << path << ": " << error;
        EXPECT_EQ(*bytes, raw) << path;
        auto merged = merge({module_file(path)}, error);
        ASSERT_TRUE(merged) << path << ": " << error;
        EXPECT_EQ(param_spelling(*merged, "a_do_table", 1), "skb: struct sk_buff *") << path;
        EXPECT_EQ(merged->module_of_function("a_do_table"), "mod_a") << path;
    }
}

TEST(BtfModules, FindsTheModuleDefiningEachFunction)
{
    test::TempDir dir;
    const ModuleBtfFile a{"mod_a", dir.write("mod_a.ko.xz", xz(elf_with_btf(module_a())))};
    const ModuleBtfFile b{"mod_b", dir.write("mod_b", module_b())};
    const ModuleBtfFile junk{"junk", dir.write("junk.ko", "junk")};
    const std::vector<std::string> functions = {"a_do_table", "b_do_chain", "a_helper", "shared_init", "kfree_skb_reason", "nowhere"};
    auto found = modules_defining(test::fixture_btf(), functions, {junk, a, b});
    EXPECT_EQ(found, (std::map<std::string, ModuleBtfFile>{{"a_do_table", a}, {"b_do_chain", b}, {"a_helper", a}, {"shared_init", a}}));
    // The first candidate in order wins, whichever thread read it.
    for (int run = 0; run < 20; ++run)
        EXPECT_EQ(modules_defining(test::fixture_btf(), {"shared_init"}, {junk, b, a, junk}).at("shared_init"), b);
    EXPECT_TRUE(modules_defining(test::fixture_btf(), {"kfree_skb_reason", "nowhere"}, {a, b}).empty());
    EXPECT_TRUE(modules_defining(test::fixture_btf(), {"a_do_table"}, {}).empty());
}

TEST(BtfModules, ListsAModuleTreeNetFirst)
{
    test::TempDir dir;
    const std::string tree = dir.path() + "/lib/modules/1.2.3-test";
    dir.write("lib/modules/1.2.3-test/kernel/fs/mod-c.ko.gz", "x");
    dir.write("lib/modules/1.2.3-test/kernel/drivers/mod_a.ko.xz", "x");
    dir.write("lib/modules/1.2.3-test/kernel/net/netfilter/mod_b.ko.zst", "x");
    dir.write("lib/modules/1.2.3-test/kernel/net/ipv4/mod_d.ko", "x");
    dir.write("lib/modules/1.2.3-test/kernel/net/README", "x");
    dir.write("lib/modules/1.2.3-test/modules.dep", "x");
    std::vector<std::string> listed;
    for (const ModuleBtfFile& m : module_tree_btf(tree)) listed.push_back(m.name + " " + m.path.substr(tree.size()));
    EXPECT_EQ(listed, (std::vector<std::string>{"mod_d /kernel/net/ipv4/mod_d.ko", "mod_b /kernel/net/netfilter/mod_b.ko.zst",
                                                "mod_a /kernel/drivers/mod_a.ko.xz", "mod_c /kernel/fs/mod-c.ko.gz"}));
    EXPECT_TRUE(module_tree_btf(dir.path() + "/nothing").empty());
}

TEST(BtfModules, FindsTheModuleTreeOfAKernelPackage)
{
    test::TempDir dir;
    // As tests/vm/vm.sh lays a package out: KERNEL/vmlinux and KERNEL/root/lib/modules/RELEASE.
    dir.write("vm/6.1/root/lib/modules/6.1.0-9-amd64/kernel/x.ko", "x");
    const std::string vmlinux = dir.write("vm/6.1/vmlinux", "x");
    EXPECT_EQ(find_module_tree(vmlinux, "6.1.0-9-amd64"), dir.path() + "/vm/6.1/root/lib/modules/6.1.0-9-amd64");
    // As `dpkg -x` does: boot/vmlinux-RELEASE and lib/modules/RELEASE, three folders up at most.
    dir.write("pkg/lib/modules/6.12.1+deb12-amd64/modules.dep", "x");
    EXPECT_EQ(find_module_tree(dir.write("pkg/boot/x/y/vmlinux", "x"), "6.12.1+deb12-amd64"),
              dir.path() + "/pkg/lib/modules/6.12.1+deb12-amd64");
    EXPECT_EQ(find_module_tree(dir.write("pkg/boot/x/y/z/vmlinux", "x"), "6.12.1+deb12-amd64"), "");
    EXPECT_EQ(find_module_tree(vmlinux, "0.0.0-no-such-release"), "");
    EXPECT_EQ(find_module_tree(vmlinux, "../../etc"), "");
    EXPECT_EQ(find_module_tree(vmlinux, ""), "");
}

TEST(BtfModules, ReadsTheReleaseInTheBanner)
{
    test::TempDir dir;
    const std::string banner = "Linux version 6.1.0-57-amd64 (debian-kernel@lists.debian.org) (gcc-12)";
    EXPECT_EQ(kernel_release_in(dir.write("a", std::string(100, '\0') + "Linux version %s (" + banner)), "6.1.0-57-amd64");
    // Across the reader's 1 MiB chunks.
    EXPECT_EQ(kernel_release_in(dir.write("b", std::string((1 << 20) - 20, 'x') + banner)), "6.1.0-57-amd64");
    EXPECT_EQ(kernel_release_in(dir.write("c", std::string((1 << 20) - 5, 'x') + banner)), "6.1.0-57-amd64");
    EXPECT_EQ(kernel_release_in(dir.write("d", "Linux version ../x (y)")), "");
    EXPECT_EQ(kernel_release_in(dir.write("e", module_a())), "");
    EXPECT_EQ(kernel_release_in(RTD_FIXTURE_BTF), "");
    EXPECT_EQ(kernel_release_in(dir.path() + "/missing"), "");
    EXPECT_TRUE(module_btf_candidates(RTD_FIXTURE_BTF).empty());
}

// ---- Debian 12's kernel packages -----------------------------------------------

// Finds the modules defining three netfilter functions in the Debian kernel
// package `kernel` and merges them; prints how long that took.
void find_and_merge_netfilter_modules(const std::string& kernel)
{
    const std::string vmlinux = rtd::test::debian_vmlinux(kernel);
    RTD_NEED_KERNEL(!vmlinux.empty(), "tests/vm/vm.sh btf " + kernel + " failed (it fetches Debian's kernel package with apt)");
    const std::string release = kernel_release_in(vmlinux);
    EXPECT_EQ(release.rfind(kernel + ".", 0), 0u) << release;
    const std::string tree = find_module_tree(vmlinux, release);
    ASSERT_FALSE(tree.empty()) << vmlinux << " " << release;
    EXPECT_TRUE(tree.ends_with("/lib/modules/" + release)) << tree;
    std::string error;
    auto btf = Btf::load(vmlinux, error);
    ASSERT_TRUE(btf) << error;

    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    const std::vector<ModuleBtfFile> candidates = module_btf_candidates(vmlinux);
    auto found = modules_defining(*btf, {"ipt_do_table", "nft_do_chain", "nf_conntrack_in"}, candidates);
    const auto looked_up = Clock::now();
    std::vector<ModuleBtfFile> modules;
    for (const auto& [function, module] : found) modules.push_back(module);
    auto merged = Btf::with_modules(std::move(btf), modules, error);
    const auto done = Clock::now();
    auto seconds = [](auto d) { return std::chrono::duration<double>(d).count(); };
    std::printf("[   TIME   ] %s: %zu module files; lookup %.2f s, merge of %zu modules %.2f s\n", kernel.c_str(), candidates.size(),
                seconds(looked_up - start), modules.size(), seconds(done - looked_up));
    ASSERT_TRUE(merged) << error;

    const std::map<std::string, std::pair<std::string, std::string>> expected = {
        {"ipt_do_table", {"ip_tables", "skb: struct sk_buff *"}},
        {"nft_do_chain", {"nf_tables", "pkt: struct nft_pktinfo *"}},
        {"nf_conntrack_in", {"nf_conntrack", "skb: struct sk_buff *"}},
    };
    for (const auto& [function, where] : expected) {
        ASSERT_TRUE(found.count(function)) << function;
        EXPECT_EQ(found.at(function).name, where.first);
        EXPECT_EQ(merged->module_of_function(function), where.first);
        auto sig = merged->function(function);
        ASSERT_TRUE(sig) << function;
        const std::size_t first = function == "ipt_do_table" ? 1 : 0;  // ipt_do_table(priv, skb, state)
        EXPECT_EQ(param_spelling(*merged, function, first), where.second) << function;
        for (const Btf::Param& p : sig->params) EXPECT_FALSE(p.name.empty()) << function;
    }
    EXPECT_EQ(merged->module_of_function("kfree_skb_reason"), "");
}

TEST(BtfModulesDebian, Linux61) { find_and_merge_netfilter_modules("6.1"); }
TEST(BtfModulesDebian, Linux612) { find_and_merge_netfilter_modules("6.12"); }

}  // namespace
}  // namespace rtd
