#include <gtest/gtest.h>

#include "compiler/const_eval.h"

namespace rtd {
namespace {

ConstValue s(std::int64_t v) { return {static_cast<std::uint64_t>(v), false}; }
ConstValue u(std::uint64_t v) { return {v, true}; }

std::string error_of(const ConstResult& r) { return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : ""; }
ConstValue value_of(const ConstResult& r) { return std::get<ConstValue>(r); }

TEST(ConstEval, SignedArithmetic)
{
    EXPECT_EQ(value_of(eval_binary(BinaryOp::Add, s(2), s(3))), s(5));
    EXPECT_EQ(value_of(eval_binary(BinaryOp::Sub, s(2), s(3))), s(-1));
    EXPECT_EQ(value_of(eval_binary(BinaryOp::Mul, s(-4), s(3))), s(-12));
    EXPECT_EQ(value_of(eval_binary(BinaryOp::Div, s(-7), s(2))), s(-3));  // truncates toward zero
    EXPECT_EQ(value_of(eval_binary(BinaryOp::Mod, s(-7), s(2))), s(-1));
    EXPECT_EQ(value_of(eval_unary(UnaryOp::Neg, s(18))), s(-18));
}

TEST(ConstEval, UnsignedWinsAndWraps)
{
    EXPECT_EQ(value_of(eval_binary(BinaryOp::Sub, u(0), s(1))), u(UINT64_MAX));
    EXPECT_EQ(value_of(eval_binary(BinaryOp::Lt, s(-1), u(1))), s(0));  // -1 converts to UINT64_MAX
    EXPECT_EQ(value_of(eval_binary(BinaryOp::Lt, s(-1), s(1))), s(1));
    EXPECT_EQ(value_of(eval_unary(UnaryOp::Neg, u(1))), u(UINT64_MAX));
}

TEST(ConstEval, ErrorsInsteadOfUndefinedBehaviour)
{
    EXPECT_EQ(error_of(eval_binary(BinaryOp::Div, s(1), s(0))), "division by zero");
    EXPECT_EQ(error_of(eval_binary(BinaryOp::Mod, s(1), s(0))), "remainder by zero");
    EXPECT_EQ(error_of(eval_binary(BinaryOp::Add, s(INT64_MAX), s(1))), "integer overflow in constant expression");
    EXPECT_EQ(error_of(eval_binary(BinaryOp::Mul, s(INT64_MIN), s(-1))), "integer overflow in constant expression");
    EXPECT_EQ(error_of(eval_binary(BinaryOp::Div, s(INT64_MIN), s(-1))), "integer overflow in constant expression");
    EXPECT_EQ(error_of(eval_unary(UnaryOp::Neg, s(INT64_MIN))), "integer overflow in constant expression");
    EXPECT_EQ(error_of(eval_binary(BinaryOp::Shl, s(1), s(64))), "shift count out of range (0 to 63)");
    EXPECT_EQ(error_of(eval_binary(BinaryOp::Shl, s(1), s(-1))), "shift count out of range (0 to 63)");
    EXPECT_EQ(error_of(eval_binary(BinaryOp::Shl, s(-1), s(1))), "integer overflow in constant expression");
    EXPECT_EQ(error_of(eval_binary(BinaryOp::Shl, s(1), s(63))), "integer overflow in constant expression");
}

TEST(ConstEval, ShiftsKeepTheLeftType)
{
    EXPECT_EQ(value_of(eval_binary(BinaryOp::Shl, u(1), s(63))), u(1ull << 63));
    EXPECT_EQ(value_of(eval_binary(BinaryOp::Shr, s(-8), s(1))), s(-4));  // arithmetic shift
    EXPECT_EQ(value_of(eval_binary(BinaryOp::Shr, u(UINT64_MAX), s(60))), u(15));
    EXPECT_EQ(value_of(eval_binary(BinaryOp::Shl, s(1), u(3))), s(8));
}

TEST(ConstEval, LogicAndComparisonsGiveSignedTruth)
{
    EXPECT_EQ(value_of(eval_binary(BinaryOp::LogAnd, s(2), s(3))), s(1));
    EXPECT_EQ(value_of(eval_binary(BinaryOp::LogOr, s(0), s(0))), s(0));
    EXPECT_EQ(value_of(eval_unary(UnaryOp::Not, s(5))), s(0));
    EXPECT_EQ(value_of(eval_binary(BinaryOp::Eq, u(5), s(5))), s(1));
    EXPECT_EQ(value_of(eval_unary(UnaryOp::BitNot, s(0))), s(-1));
    EXPECT_EQ(value_of(eval_binary(BinaryOp::BitOr, s(1), u(2))), u(3));
}

TEST(ConstEval, ScalarCasts)
{
    EXPECT_EQ(eval_scalar_cast("u8", s(-1)), u(255));
    EXPECT_EQ(eval_scalar_cast("s8", s(255)), s(-1));
    EXPECT_EQ(eval_scalar_cast("u16", s(0x12345)), u(0x2345));
    EXPECT_EQ(eval_scalar_cast("s32", u(0xffffffff)), s(-1));
    EXPECT_EQ(eval_scalar_cast("u32", s(-1)), u(0xffffffff));
    EXPECT_EQ(eval_scalar_cast("bool", s(42)), u(1));
    EXPECT_EQ(eval_scalar_cast("s64", u(UINT64_MAX)), s(-1));
}

}  // namespace
}  // namespace rtd
