// The type checker against a fixed BTF built from tests/data/btf/fixture.c,
// so results do not depend on the kernel running the tests.
//   data/typecheck/*.rule      must fail with exactly the diagnostics in .expected
//   data/typecheck/warn_*.rule must pass with exactly the warnings in .expected
#include <gtest/gtest.h>
#include <bpf/btf.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "compiler/ast_dump.h"
#include "compiler/codegen.h"
#include "compiler/filter.h"
#include "compiler/typecheck.h"
#include "tests/compiler/test_util.h"

namespace rtd {
namespace {

namespace fs = std::filesystem;

const Btf& fixture() { return test::fixture_btf(); }

struct Typed {
    test::Checked front;
    std::vector<TypedRule> rules;
    bool ok = false;
    std::string diagnostics;
};

Typed type_text(const std::string& text, bool strict = false, const Btf& btf = fixture())
{
    Typed t;
    t.front = test::check_text(text);
    if (!t.front.ok) {
        t.diagnostics = t.front.diagnostics;
        return t;
    }
    Diagnostics& d = t.front.frontend->diagnostics();
    TypeCheckOptions options;
    options.strict = strict;
    t.rules = type_check(t.front.rules(), btf, t.front.frontend->sources(), d, options);
    t.ok = !d.has_errors();
    t.diagnostics = d.render(t.front.frontend->sources());
    return t;
}

std::string capture_of(const std::string& expr, const std::string& probe = "kprobe:tcp_conn_request")
{
    Typed t = type_text("rule t.x {\n layer l4\n probe " + probe + "\n capture v = " + expr + "\n}\n");
    if (!t.ok) return t.diagnostics;
    return dump_typed(*t.rules.at(0).probes.at(0).captures.at(0), fixture());
}

TEST(Btf, LoadErrors)
{
    std::string error;
    EXPECT_EQ(Btf::load("/nonexistent/vmlinux", error), nullptr);
    EXPECT_EQ(error, "no such file");
    EXPECT_EQ(Btf::load(RTD_TEST_DATA "/btf/fixture.c", error), nullptr);
    EXPECT_FALSE(error.empty());
}

TEST(Btf, FunctionsTracepointsAndTypes)
{
    const Btf& b = fixture();
    auto f = b.function("tcp_conn_request");
    ASSERT_TRUE(f);
    ASSERT_EQ(f->params.size(), 4u);
    EXPECT_EQ(f->params[2].name, "sk");
    EXPECT_EQ(b.spelling(f->params[2].type), "struct sock *");
    EXPECT_EQ(b.spelling(f->ret), "int");
    EXPECT_FALSE(b.function("no_such_function"));

    auto tp = b.tracepoint("kfree_skb");  // names from the __bpf_trace_ stub
    ASSERT_TRUE(tp);
    ASSERT_EQ(tp->params.size(), 4u);
    EXPECT_EQ(tp->params[2].name, "reason");
    EXPECT_EQ(b.spelling(tp->params[2].type), "enum skb_drop_reason");
    auto bare = b.tracepoint("sock_rcvqueue_full");  // typedef only: no names
    ASSERT_TRUE(bare);
    ASSERT_EQ(bare->params.size(), 2u);
    EXPECT_EQ(bare->params[0].name, "");

    auto e = b.enumerator("SKB_DROP_REASON_NETFILTER_DROP");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->value, 6u);
    EXPECT_EQ(b.enumerator_name(e->type, 6), "SKB_DROP_REASON_NETFILTER_DROP");
    EXPECT_EQ(b.enum_name(e->type), "skb_drop_reason");

    auto sock = b.find_tagged(Btf::Tag::Struct, "sock");
    ASSERT_TRUE(sock);
    auto anon = b.member(*b.find_tagged(Btf::Tag::Struct, "sock_common"), "skc_daddr");  // inside union { struct { } }
    ASSERT_TRUE(anon);
    EXPECT_EQ(b.spelling(anon->type), "__be32");  // spelled through its typedef
    auto bits = b.member(*b.find_tagged(Btf::Tag::Struct, "sock_common"), "skc_reuseport");
    ASSERT_TRUE(bits);
    EXPECT_EQ(bits->bitfield_size, 1u);
    auto cb = b.member(*b.find_tagged(Btf::Tag::Struct, "sk_buff"), "cb");
    ASSERT_TRUE(cb);
    EXPECT_TRUE(b.is_char_array(cb->type));
    EXPECT_EQ(b.array_length(cb->type), 48u);
}

// GCC clones keep a suffix; BTF may list only the clone. Built by hand
// because C cannot name a function "x.isra.0".
TEST(Btf, SuffixedFunctionVariants)
{
    struct btf* raw = btf__new_empty();
    int i32 = btf__add_int(raw, "int", 4, BTF_INT_SIGNED);
    int proto = btf__add_func_proto(raw, i32);
    btf__add_func_param(raw, "skb_len", i32);
    btf__add_func(raw, "ip_rcv_finish_core.isra.0", BTF_FUNC_STATIC, proto);
    btf__add_func(raw, "ip_rcv_finish_corex", BTF_FUNC_STATIC, proto);
    std::uint32_t size = 0;
    const void* data = btf__raw_data(raw, &size);
    test::TempDir t;
    std::string path = t.path() + "/suffix.btf";
    std::ofstream(path, std::ios::binary).write(static_cast<const char*>(data), size);
    btf__free(raw);

    std::string error;
    auto b = Btf::load(path, error);
    ASSERT_TRUE(b) << error;
    auto f = b->function("ip_rcv_finish_core");
    ASSERT_TRUE(f);
    EXPECT_EQ(f->symbol, "ip_rcv_finish_core.isra.0");
    EXPECT_EQ(f->params.at(0).name, "skb_len");
}

TEST(TypeCheck, ExpressionTypes)
{
    EXPECT_EQ(capture_of("sk.sk_max_ack_backlog"), "(-> sk_max_ack_backlog 'u32' (arg sk 'struct sock *'))");
    EXPECT_EQ(capture_of("((struct inet_connection_sock *)sk).icsk_accept_queue.qlen.counter"),
              "(. counter 'int' (. qlen 'atomic_t' (-> icsk_accept_queue 'struct request_sock_queue' "
              "(cast 'struct inet_connection_sock *' (arg sk 'struct sock *')))))");
    EXPECT_EQ(capture_of("sk.__sk_common.skc_daddr"),
              "(. skc_daddr '__be32' (-> __sk_common 'struct sock_common' (arg sk 'struct sock *')))");
    EXPECT_EQ(capture_of("sk.__sk_common.skc_reuseport"),
              "(. skc_reuseport:1 'unsigned char' (-> __sk_common 'struct sock_common' (arg sk 'struct sock *')))");
    EXPECT_EQ(capture_of("skb.dev.name"), "(-> name 'char[16]' (-> dev 'struct net_device *' (arg skb 'struct sk_buff *')))");
    EXPECT_EQ(capture_of("skb.head[skb.network_header + 9]"),
              "([] 'unsigned char' (-> head 'unsigned char *' (arg skb 'struct sk_buff *')) (+ 's64' (-> network_header 'u16' "
              "(arg skb 'struct sk_buff *')) 9:'s64'))");
    EXPECT_EQ(capture_of("(u8)skb.len + 1"), "(+ 's64' (cast 'u8' (-> len 'unsigned int' (arg skb 'struct sk_buff *'))) 1:'s64')");
    EXPECT_EQ(capture_of("skb.len * 0xffffffffffffffff"),
              "(* 'u64' (-> len 'unsigned int' (arg skb 'struct sk_buff *')) 18446744073709551615:'u64')");
    EXPECT_EQ(capture_of("sk + 1"), "(+ 'struct sock *' (arg sk 'struct sock *') 1:'s64')");
    EXPECT_EQ(capture_of("reason", "tracepoint:skb:kfree_skb"), "(arg reason 'enum skb_drop_reason')");
    EXPECT_EQ(capture_of("arg1.len", "tracepoint:sock:sock_rcvqueue_full"), "(-> len 'unsigned int' (arg arg1 'struct sk_buff *'))");
}

TEST(TypeCheck, CoalesceTakesTheFirstAlternativeThatChecks)
{
    Typed t = type_text("rule t.x {\n layer l3\n probe kretprobe:ipt_do_table\n"
                        " capture table = ((struct xt_table *)priv).name ?? table.name\n"
                        " capture hook = state.hooknum ?? state.hook\n drop if ret == 0\n}\n");
    ASSERT_TRUE(t.ok) << t.diagnostics;
    const TypedProbe& p = t.rules[0].probes[0];
    EXPECT_EQ(p.choices, (std::vector<std::string>{"4:18: '??' took alternative 1 of 2", "5:17: '??' took alternative 2 of 2"}));
    EXPECT_EQ(t.rules[0].captures[0].kind, ValueKind::String);
    EXPECT_EQ(t.rules[0].captures[0].size, 32u);
    EXPECT_EQ(t.rules[0].captures[1].kind, ValueKind::Unsigned);
}

TEST(TypeCheck, CaptureSchemas)
{
    Typed t = type_text("rule t.x {\n layer l4\n probe tracepoint:skb:kfree_skb\n capture r = reason\n capture d = skb.dev\n"
                        " capture n = skb.dev.name\n capture s = rx_sk.sk_rcvbuf\n capture u = skb.len\n capture m = r\n}\n");
    ASSERT_TRUE(t.ok) << t.diagnostics;
    const auto& c = t.rules[0].captures;
    EXPECT_EQ(c[0].kind, ValueKind::Enum);
    EXPECT_EQ(c[0].enum_name, "skb_drop_reason");
    EXPECT_EQ(c[1].kind, ValueKind::Pointer);
    EXPECT_EQ(c[2].kind, ValueKind::String);
    EXPECT_EQ(c[2].size, 16u);
    EXPECT_EQ(c[3].kind, ValueKind::Signed);
    EXPECT_EQ(c[4].kind, ValueKind::Unsigned);
    EXPECT_EQ(c[5].kind, ValueKind::Enum);  // a capture of a capture keeps its type
}

TEST(TypeCheck, IntegerCapturesUnifyAcrossProbes)
{
    Typed t = type_text("rule t.x {\n layer l4\n probe kprobe:tcp_conn_request, kprobe:fib_validate_source\n"
                        " capture v = sk.sk_rcvbuf ?? src\n}\n");
    ASSERT_TRUE(t.ok) << t.diagnostics;
    EXPECT_EQ(t.rules[0].captures[0].kind, ValueKind::Signed);  // int at one probe, __be32 at the other
}

TEST(TypeCheck, MissingFunctionSkipsTheRuleOrFailsWhenStrict)
{
    std::string text = "rule t.x {\n layer l3\n probe kretprobe:nf_hook_slow\n drop if ret == 0\n}\n";
    Typed lax = type_text(text);
    EXPECT_TRUE(lax.ok) << lax.diagnostics;
    EXPECT_TRUE(lax.rules[0].skipped);
    EXPECT_EQ(lax.rules[0].probes[0].skip_reason, "function nf_hook_slow not in kernel BTF");
    Typed strict = type_text(text, true);
    EXPECT_FALSE(strict.ok);
    EXPECT_NE(strict.diagnostics.find("test.rule:3:8-29: error: function 'nf_hook_slow' is not in this kernel's BTF"), std::string::npos)
        << strict.diagnostics;
}

TEST(TypeCheck, MissingEnumeratorSkipsTheRuleOrFailsWhenStrict)
{
    std::string text = "rule t.x {\n layer l4\n probe tracepoint:skb:kfree_skb\n drop if reason == SKB_DROP_REASON_TCP_OLD_SEQUENCE\n}\n";
    Typed lax = type_text(text);
    EXPECT_TRUE(lax.ok) << lax.diagnostics;
    ASSERT_EQ(lax.rules.size(), 1u);
    EXPECT_TRUE(lax.rules[0].skipped);
    EXPECT_FALSE(lax.rules[0].probes[0].available);
    EXPECT_EQ(lax.rules[0].probes[0].skip_reason, "this kernel has no SKB_DROP_REASON_TCP_OLD_SEQUENCE in enum skb_drop_reason");
    Typed strict = type_text(text, true);
    EXPECT_FALSE(strict.ok);
    EXPECT_NE(strict.diagnostics.find("test.rule:4:20-51: error: 'SKB_DROP_REASON_TCP_OLD_SEQUENCE' is not in this kernel's enum "
                                      "skb_drop_reason; rule 't.x' will be skipped on this kernel"),
              std::string::npos)
        << strict.diagnostics;
}

TEST(TypeCheck, MissingEnumeratorFailsOverInCoalesce)
{
    // Even with --strict: an alternative that lacks an enumerator just is not taken.
    for (bool strict : {false, true}) {
        Typed t = type_text("rule t.x {\n layer l4\n probe tracepoint:skb:kfree_skb\n"
                            " drop if (reason == SKB_DROP_REASON_TCP_OLD_SEQUENCE ?? 0) || reason == SKB_DROP_REASON_TCP_CSUM\n}\n",
                            strict);
        ASSERT_TRUE(t.ok) << t.diagnostics;
        EXPECT_EQ(t.diagnostics, "");
        const TypedProbe& p = t.rules[0].probes[0];
        EXPECT_TRUE(p.available);
        EXPECT_EQ(p.choices, (std::vector<std::string>{"4:10: '??' took alternative 2 of 2"}));
    }
    // Every alternative lacks one: the probe is skipped, not an error.
    Typed all = type_text("rule t.x {\n layer l4\n probe tracepoint:skb:kfree_skb\n"
                          " drop if reason == SKB_DROP_REASON_TCP_OLD_SEQUENCE ?? reason == SKB_DROP_REASON_TCP_OLD_DATA\n}\n");
    EXPECT_TRUE(all.ok) << all.diagnostics;
    EXPECT_TRUE(all.rules[0].skipped);
}

TEST(TypeCheck, OnlyEnumeratorLikeNamesOfAKnownFamilyAreMissing)
{
    auto text = [](const std::string& name) {
        return "rule t.x {\n layer l4\n probe tracepoint:skb:kfree_skb\n drop if skb.len == " + name + "\n}\n";
    };
    // Missing from a family this kernel has (two words of prefix at least): skipped.
    for (const char* name : {"SKB_DROP_REASON_PKT_TOO_SMALL", "TCP_CA_Recovery", "INET_ECN_MASK"}) {
        Typed t = type_text(text(name));
        EXPECT_TRUE(t.ok) << name << "\n" << t.diagnostics;
        EXPECT_NE(t.diagnostics.find("warning: '" + std::string(name) + "' is not "), std::string::npos) << t.diagnostics;
    }
    // Typos (one edit, or case) of an enumerator, one-word prefixes, unknown
    // families and lower-case names stay errors.
    for (const char* name : {"SKB_DROP_REASON_TCP_CUSM", "TCP_CA_open", "SKB_FOO", "TCP_FOO", "IPPROTO_TCP", "NF_INET_LOCAL_IN",
                             "rx_skk", "skb_drop_reason_foo"}) {
        Typed t = type_text(text(name));
        EXPECT_FALSE(t.ok) << name;
        EXPECT_NE(t.diagnostics.find("error: '" + std::string(name) + "' is neither an argument of tracepoint skb:kfree_skb nor a kernel enumerator"),
                  std::string::npos)
            << t.diagnostics;
    }
}

// Folder of failures with exact expected diagnostics.
std::vector<std::string> typecheck_files()
{
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(RTD_TEST_DATA "/typecheck"))
        if (e.path().extension() == ".rule") out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

class TypeCheckCorpus : public testing::TestWithParam<std::string> {};

TEST_P(TypeCheckCorpus, ExactDiagnostics)
{
    fs::path old = fs::current_path();
    fs::current_path(RTD_TEST_DATA);
    std::string path = "typecheck/" + GetParam();
    Typed t;
    t.front = test::check_paths({path});
    fs::current_path(old);
    ASSERT_TRUE(t.front.ok) << t.front.diagnostics;
    Diagnostics& d = t.front.frontend->diagnostics();
    type_check(t.front.rules(), fixture(), t.front.frontend->sources(), d);
    std::string actual = d.render(t.front.frontend->sources());
    bool expect_ok = GetParam().rfind("warn_", 0) == 0;
    EXPECT_EQ(!d.has_errors(), expect_ok) << actual;
    std::string expected = RTD_TEST_DATA "/" + fs::path(path).replace_extension(".expected").string();
    if (std::getenv("RTRACE_DROP_UPDATE_GOLDEN")) {
        std::ofstream(expected, std::ios::binary) << actual;
        return;
    }
    ASSERT_TRUE(fs::exists(expected)) << expected << " is missing; run `make golden` and review it";
    EXPECT_EQ(test::read_file(expected), actual);
}

INSTANTIATE_TEST_SUITE_P(TypeCheck, TypeCheckCorpus, testing::ValuesIn(typecheck_files()),
                         [](const testing::TestParamInfo<std::string>& i) { return fs::path(i.param).stem().string(); });

TEST(TypeCheck, EnoughErrorCases)
{
    auto files = typecheck_files();
    EXPECT_GE(std::count_if(files.begin(), files.end(), [](const std::string& f) { return f.rfind("warn_", 0) != 0; }), 25);
}

// A few golden files of generated C, against the fixture BTF only so kernel
// upgrades never rewrite them. The tests that matter compile and load.
std::vector<std::string> codegen_files()
{
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(RTD_TEST_DATA "/codegen"))
        if (e.path().extension() == ".rule") out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

class CodegenGolden : public testing::TestWithParam<std::string> {};

TEST_P(CodegenGolden, GeneratedCMatches)
{
    fs::path old = fs::current_path();
    fs::current_path(RTD_TEST_DATA);
    test::Checked front = test::check_paths({"codegen/" + GetParam()});
    fs::current_path(old);
    ASSERT_TRUE(front.ok) << front.diagnostics;
    Diagnostics& d = front.frontend->diagnostics();
    auto typed = type_check(front.rules(), fixture(), front.frontend->sources(), d);
    ASSERT_FALSE(d.has_errors()) << d.render(front.frontend->sources());
    // NAME.where next to NAME.rule: generate with that --where filter.
    EmitOptions options;
    fs::path where = fs::path(RTD_TEST_DATA "/codegen") / fs::path(GetParam()).replace_extension(".where");
    if (fs::exists(where)) {
        std::string text = test::read_file(where.string());
        while (!text.empty() && text.back() == '\n') text.pop_back();
        SourceManager sources;
        Diagnostics fd;
        options.filter = compile_filter(text, sources, fd);
        ASSERT_TRUE(options.filter) << fd.render(sources);
    }
    CompiledRuleSet set = lower_and_emit(front.rules(), typed, fixture(), front.frontend->sources(), options);
    std::string expected = RTD_TEST_DATA "/codegen/" + fs::path(GetParam()).replace_extension(".bpf.c").string();
    if (std::getenv("RTRACE_DROP_UPDATE_GOLDEN")) {
        std::ofstream(expected, std::ios::binary) << set.source;
        return;
    }
    ASSERT_TRUE(fs::exists(expected)) << expected << " is missing; run `make golden` and review it";
    EXPECT_EQ(test::read_file(expected), set.source);
}

INSTANTIATE_TEST_SUITE_P(Codegen, CodegenGolden, testing::ValuesIn(codegen_files()),
                         [](const testing::TestParamInfo<std::string>& i) { return fs::path(i.param).stem().string(); });

TEST(Codegen, AttachPlanAndLayout)
{
    Typed t = type_text("rule t.r {\n layer l3\n probe kretprobe:ipt_do_table, tracepoint:skb:kfree_skb, kprobe:nope\n"
                        " capture s = skb.len\n capture d = skb.dev.name\n packet skb\n stack\n}\n"
                        "monitor t.m {\n layer l1\n source link:rx_dropped\n drop if delta > 0\n}\n");
    ASSERT_TRUE(t.ok) << t.diagnostics;
    CompiledRuleSet set = lower_and_emit(t.front.rules(), t.rules, fixture(), t.front.frontend->sources());
    ASSERT_EQ(set.rules.size(), 2u);
    const EventSchema& ev = set.rules[0].event;
    EXPECT_EQ(ev.struct_name, "rtd_ev_0");
    EXPECT_EQ(ev.packet_offset, 64u);
    EXPECT_EQ(ev.stack_offset, 136u);
    ASSERT_EQ(ev.fields.size(), 2u);
    EXPECT_EQ(ev.fields[0].offset, 400u);
    EXPECT_EQ(ev.fields[1].offset, 408u);
    EXPECT_EQ(ev.fields[1].kind, ValueKind::String);
    EXPECT_EQ(ev.fields[1].size, 16u);
    EXPECT_EQ(ev.size, 424u);
    EXPECT_TRUE(set.rules[1].is_monitor);

    ASSERT_EQ(set.probes.size(), 3u);
    const ProbePlan& ret = set.probes[0];
    ASSERT_EQ(ret.methods.size(), 2u);
    EXPECT_EQ(ret.methods[0].form, AttachForm::Fexit);
    EXPECT_EQ(ret.methods[1].form, AttachForm::Kretprobe);
    ASSERT_EQ(ret.methods[1].programs.size(), 2u);  // entry stash + return
    EXPECT_EQ(ret.methods[1].programs[0].name, "rtd_0_0_ke");
    EXPECT_EQ(ret.methods[1].programs[0].form, AttachForm::Kprobe);
    EXPECT_EQ(set.probes[1].methods[0].form, AttachForm::TpBtf);
    EXPECT_EQ(set.probes[1].methods[1].form, AttachForm::RawTp);
    EXPECT_FALSE(set.probes[2].available);
    EXPECT_TRUE(set.probes[2].methods.empty());
    EXPECT_NE(set.source.find("#define RTD_STASH 1"), std::string::npos);
    EXPECT_EQ(set.source.find("nope"), std::string::npos);

    std::string manifest = set.manifest_json();
    EXPECT_NE(manifest.find("\"struct\": \"rtd_ev_0\""), std::string::npos) << manifest;
    EXPECT_NE(manifest.find("\"skip_reason\": \"function nope not in kernel BTF\""), std::string::npos);
}

TEST(Codegen, NothingFromRuleTextReachesTheC)
{
    // Capture names, messages and ids are not pasted into C; only generated
    // names and BTF-validated identifiers are.
    Typed t = type_text("rule evil.x {\n layer l4\n probe kprobe:tcp_conn_request\n capture while = sk.sk_rcvbuf\n"
                        " message \"*/ #include </etc/passwd> {while}\"\n}\n");
    ASSERT_TRUE(t.ok) << t.diagnostics;
    CompiledRuleSet set = lower_and_emit(t.front.rules(), t.rules, fixture(), t.front.frontend->sources());
    EXPECT_EQ(set.source.find("passwd"), std::string::npos);
    EXPECT_EQ(set.source.find("while ="), std::string::npos);
    EXPECT_NE(set.source.find("__s64 c0; /* while: signed */"), std::string::npos) << set.source;
}

TEST(Codegen, EnumeratorsOfNamedEnumsGoThroughCoRe)
{
    Typed t = type_text("rule t.a {\n layer l4\n probe tracepoint:skb:kfree_skb\n capture st = TCP_CA_Loss\n"
                        " drop if reason == SKB_DROP_REASON_TCP_LISTEN_OVERFLOW || reason == (enum skb_drop_reason)3\n}\n"
                        "rule t.b {\n layer l4\n probe tracepoint:skb:kfree_skb\n drop if reason == SKB_DROP_REASON_NOT_SPECIFIED\n}\n"
                        "rule t.all {\n layer l4\n probe tracepoint:skb:kfree_skb\n fallback\n}\n");
    ASSERT_TRUE(t.ok) << t.diagnostics;
    CompiledRuleSet set = lower_and_emit(t.front.rules(), t.rules, fixture(), t.front.frontend->sources());
    EXPECT_NE(set.source.find("((__s64)(__u32)bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_TCP_LISTEN_OVERFLOW))"),
              std::string::npos)
        << set.source;
    EXPECT_NE(set.source.find("bpf_core_enum_value(enum tcp_ca_state, TCP_CA_Loss)"), std::string::npos) << set.source;
    // A cast number stays a number: no enumerator was named.
    EXPECT_NE(set.source.find("((enum skb_drop_reason)(((__s64)0x3ULL)))"), std::string::npos) << set.source;
    // The fallback rule leaves the named reasons to their rules, on any kernel.
    EXPECT_NE(set.source.find("(bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED) && (__u64)r2 == "
                              "(__u64)(__u32)bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED))"),
              std::string::npos)
        << set.source;
    EXPECT_NE(set.source.find("(__u64)r2 == (__u64)(__u32)bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_TCP_LISTEN_OVERFLOW)"),
              std::string::npos);
    ASSERT_EQ(set.rules.size(), 3u);
    ASSERT_EQ(set.probes[0].enumerators.size(), 2u);
    EXPECT_EQ(set.probes[0].enumerators[0].enum_name, "skb_drop_reason");
    EXPECT_EQ(set.probes[0].enumerators[0].name, "SKB_DROP_REASON_TCP_LISTEN_OVERFLOW");
    EXPECT_EQ(set.probes[0].enumerators[1].enum_name, "tcp_ca_state");
    EXPECT_EQ(set.probes[0].enumerators[1].name, "TCP_CA_Loss");
    ASSERT_EQ(set.probes[1].enumerators.size(), 1u);
    EXPECT_TRUE(set.probes[2].enumerators.empty());  // guarded by bpf_core_enum_value_exists
    std::string manifest = set.manifest_json();
    EXPECT_NE(manifest.find("\"enumerators\": [\n        {\n          \"enum\": \"skb_drop_reason\",\n          \"name\": \"SKB_DROP_REASON_TCP_LISTEN_OVERFLOW\""),
              std::string::npos)
        << manifest;
    EXPECT_NE(manifest.find("\"filter\": \"\""), std::string::npos);
}

// `reason == X ?? 0`: on a kernel without X the comparison is the constant.
// The code tests X's existence itself, so X is not required of the kernel
// (a built object keeps running where X is missing); X outside a '??' is.
TEST(Codegen, CoalesceFallbackMakesItsEnumeratorsOptional)
{
    Typed t = type_text("rule t.a {\n layer l4\n probe tracepoint:skb:kfree_skb\n"
                        " drop if reason == SKB_DROP_REASON_NOT_SPECIFIED || (reason == SKB_DROP_REASON_TCP_LISTEN_OVERFLOW ?? 0)\n}\n");
    ASSERT_TRUE(t.ok) << t.diagnostics;
    CompiledRuleSet set = lower_and_emit(t.front.rules(), t.rules, fixture(), t.front.frontend->sources());
    EXPECT_NE(set.source.find("((bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_TCP_LISTEN_OVERFLOW)) ? (__s64)("),
              std::string::npos)
        << set.source;
    EXPECT_NE(set.source.find(") : (__s64)0x0ULL)"), std::string::npos) << set.source;
    ASSERT_EQ(set.probes.size(), 1u);
    ASSERT_EQ(set.probes[0].enumerators.size(), 1u);
    EXPECT_EQ(set.probes[0].enumerators[0].name, "SKB_DROP_REASON_NOT_SPECIFIED");
    // The programs read the tracepoint's arguments up to the last one used
    // (reason, location): not rx_sk, which older kernels do not pass.
    EXPECT_NE(set.source.find("int BPF_PROG(rtd_0_0_tb, __u64 r0, __u64 r1, __u64 r2)\n"), std::string::npos) << set.source;
}

TEST(Codegen, FilterAndRateLimit)
{
    Typed t = type_text("rule t.pkt {\n layer l4\n probe tracepoint:skb:kfree_skb\n packet skb\n}\n"
                        "rule t.nopkt {\n layer l4\n probe kprobe:tcp_conn_request\n}\n");
    ASSERT_TRUE(t.ok) << t.diagnostics;
    SourceManager sources;
    Diagnostics fd;
    EmitOptions options;
    options.filter = compile_filter("dport == 443 && comm != \"x\"", sources, fd);
    ASSERT_TRUE(options.filter) << fd.render(sources);
    CompiledRuleSet set = lower_and_emit(t.front.rules(), t.rules, fixture(), t.front.frontend->sources(), options);
    EXPECT_EQ(set.filter, "dport == 443 && comm != \"x\"");
    ASSERT_EQ(set.rules.size(), 2u);
    EXPECT_FALSE(set.rules[0].filter_lacks_packet);
    EXPECT_TRUE(set.rules[1].filter_lacks_packet);
    // The packet is decoded once: into the filter's locals, then copied.
    EXPECT_NE(set.source.find("    rtd_decode_packet(&fp, &fh, skb);\n"), std::string::npos) << set.source;
    EXPECT_EQ(set.source.find("rtd_decode_packet(&ev->pkt"), std::string::npos) << set.source;
    EXPECT_NE(set.source.find("__builtin_memcpy(&ev->pkt, &fp, sizeof(fp));"), std::string::npos);
    EXPECT_NE(set.source.find("cnt->filtered++;"), std::string::npos);
    EXPECT_NE(set.source.find("if (!rtd_rate_ok(1)) {\n        if (cnt)\n            cnt->suppressed++;"), std::string::npos);
    // The filter comes after the drop count, the rate limit after the filter.
    std::size_t drops = set.source.find("cnt->drops++");
    std::size_t filtered = set.source.find("cnt->filtered++");
    std::size_t suppressed = set.source.find("cnt->suppressed++");
    std::size_t reserve = set.source.find("bpf_ringbuf_reserve");
    EXPECT_LT(drops, filtered);
    EXPECT_LT(filtered, suppressed);
    EXPECT_LT(suppressed, reserve);
    std::string manifest = set.manifest_json();
    EXPECT_NE(manifest.find("\"filter\": \"dport == 443 && comm != \\\"x\\\"\""), std::string::npos) << manifest;
    EXPECT_NE(manifest.find("\"filter_lacks_packet\": true"), std::string::npos) << manifest;
}

}  // namespace
}  // namespace rtd
