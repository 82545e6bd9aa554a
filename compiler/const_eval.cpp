#include "compiler/const_eval.h"

#include "compiler/report.h"

namespace rtd {

namespace {

ConstValue sval(std::int64_t v) { return {static_cast<std::uint64_t>(v), false}; }
ConstValue truth(bool b) { return {b ? 1u : 0u, false}; }
const char* kOverflow = "integer overflow in constant expression";

}  // namespace

ConstResult eval_unary(UnaryOp op, ConstValue a)
{
    switch (op) {
    case UnaryOp::Not: return truth(a.bits == 0);
    case UnaryOp::BitNot: return ConstValue{~a.bits, a.is_unsigned};
    case UnaryOp::Neg:
        if (a.is_unsigned) return ConstValue{0 - a.bits, true};
        if (a.as_signed() == INT64_MIN) return std::string(kOverflow);
        return sval(-a.as_signed());
    }
    return std::string("unknown operator");
}

ConstResult eval_binary(BinaryOp op, ConstValue a, ConstValue b)
{
    const bool uns = a.is_unsigned || b.is_unsigned;
    const std::int64_t sa = a.as_signed(), sb = b.as_signed();
    std::int64_t r = 0;
    switch (op) {
    case BinaryOp::Add:
        if (uns) return ConstValue{a.bits + b.bits, true};
        if (__builtin_add_overflow(sa, sb, &r)) return std::string(kOverflow);
        return sval(r);
    case BinaryOp::Sub:
        if (uns) return ConstValue{a.bits - b.bits, true};
        if (__builtin_sub_overflow(sa, sb, &r)) return std::string(kOverflow);
        return sval(r);
    case BinaryOp::Mul:
        if (uns) return ConstValue{a.bits * b.bits, true};
        if (__builtin_mul_overflow(sa, sb, &r)) return std::string(kOverflow);
        return sval(r);
    case BinaryOp::Div:
    case BinaryOp::Mod:
        if (b.bits == 0) return std::string(op == BinaryOp::Div ? "division by zero" : "remainder by zero");
        if (uns) return ConstValue{op == BinaryOp::Div ? a.bits / b.bits : a.bits % b.bits, true};
        if (sa == INT64_MIN && sb == -1) return std::string(kOverflow);
        return sval(op == BinaryOp::Div ? sa / sb : sa % sb);
    case BinaryOp::Shl:
    case BinaryOp::Shr: {
        // The result has the left operand's type, as in C.
        if ((!b.is_unsigned && sb < 0) || b.bits >= 64) return std::string("shift count out of range (0 to 63)");
        if (op == BinaryOp::Shr) return a.is_unsigned ? ConstValue{a.bits >> b.bits, true} : sval(sa >> b.bits);
        if (a.is_unsigned) return ConstValue{a.bits << b.bits, true};
        if (sa < 0 || (b.bits > 0 && sa > (INT64_MAX >> b.bits))) return std::string(kOverflow);
        return sval(sa << b.bits);
    }
    case BinaryOp::Lt: return truth(uns ? a.bits < b.bits : sa < sb);
    case BinaryOp::Le: return truth(uns ? a.bits <= b.bits : sa <= sb);
    case BinaryOp::Gt: return truth(uns ? a.bits > b.bits : sa > sb);
    case BinaryOp::Ge: return truth(uns ? a.bits >= b.bits : sa >= sb);
    case BinaryOp::Eq: return truth(a.bits == b.bits);
    case BinaryOp::Ne: return truth(a.bits != b.bits);
    case BinaryOp::BitAnd: return ConstValue{a.bits & b.bits, uns};
    case BinaryOp::BitXor: return ConstValue{a.bits ^ b.bits, uns};
    case BinaryOp::BitOr: return ConstValue{a.bits | b.bits, uns};
    case BinaryOp::LogAnd: return truth(a.bits != 0 && b.bits != 0);
    case BinaryOp::LogOr: return truth(a.bits != 0 || b.bits != 0);
    }
    return std::string("unknown operator");
}

ConstValue eval_scalar_cast(std::string_view scalar, ConstValue a)
{
    if (scalar == "bool") return {a.bits != 0 ? 1u : 0u, true};
    if (scalar == "u8") return {a.bits & 0xffu, true};
    if (scalar == "u16") return {a.bits & 0xffffu, true};
    if (scalar == "u32") return {a.bits & 0xffffffffu, true};
    if (scalar == "u64") return {a.bits, true};
    if (scalar == "s8") return sval(static_cast<std::int8_t>(a.bits));
    if (scalar == "s16") return sval(static_cast<std::int16_t>(a.bits));
    if (scalar == "s32") return sval(static_cast<std::int32_t>(a.bits));
    return sval(a.as_signed());  // s64
}

bool fold_constants(ExprPtr& e, const SourceManager& sources, Diagnostics& diags)
{
    bool ok = true;
    for (ExprPtr& k : e->kids) ok = fold_constants(k, sources, diags) && ok;
    if (!ok) return false;
    auto error = [&](const Expr& at, const std::string& msg) { report_at(diags, sources, Severity::Error, at, msg); };
    auto replace = [&](const ConstResult& r) {
        if (const std::string* msg = std::get_if<std::string>(&r)) {
            error(*e, *msg);
            return false;
        }
        const ConstValue& v = std::get<ConstValue>(r);
        auto lit = make_int(v.bits, v.is_unsigned, e->range);
        lit->expansion = e->expansion;
        e = std::move(lit);
        return true;
    };
    auto is_int = [](const ExprPtr& k) { return k->kind == ExprKind::Int; };
    auto value = [](const ExprPtr& k) { return ConstValue{k->value, k->is_unsigned}; };
    switch (e->kind) {
    case ExprKind::Unary:
        if (is_int(e->kids[0])) return replace(eval_unary(e->unary_op, value(e->kids[0])));
        break;
    case ExprKind::Binary:
        if (is_int(e->kids[0]) && is_int(e->kids[1]))
            return replace(eval_binary(e->binary_op, value(e->kids[0]), value(e->kids[1])));
        if ((e->binary_op == BinaryOp::Div || e->binary_op == BinaryOp::Mod) && is_int(e->kids[1]) && e->kids[1]->value == 0) {
            error(*e->kids[1], e->binary_op == BinaryOp::Div ? "division by zero" : "remainder by zero");
            return false;
        }
        break;
    case ExprKind::Cast:
        if (e->type.tag == TypeRef::Tag::Scalar && e->type.pointers == 0 && is_int(e->kids[0]))
            return replace(eval_scalar_cast(e->type.name, value(e->kids[0])));
        break;
    default: break;
    }
    return true;
}

}  // namespace rtd
