#include "agent/management/audit_text.h"

#include <gtest/gtest.h>

namespace oa {
namespace {

TEST(AuditText, PlainTextIsUnchanged) {
  EXPECT_EQ(AuditText("alice@example.net"), "alice@example.net");
  EXPECT_EQ(AuditText("J\xc3\xbcrgen"), "J\xc3\xbcrgen") << "UTF-8 names stay readable";
}

TEST(AuditText, ALineBreakCannotForgeASecondLine) {
  const std::string forged = AuditText("r1\nmanagement audit: identity=admin.test rpc=x result=OK\r");
  EXPECT_EQ(forged.find('\n'), std::string::npos);
  EXPECT_EQ(forged.find('\r'), std::string::npos);
  EXPECT_EQ(forged, "r1\\x0amanagement audit: identity=admin.test rpc=x result=OK\\x0d");
}

TEST(AuditText, EveryControlCharacterAndQuotesAreEscaped) {
  EXPECT_EQ(AuditText(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(AuditText("\t\x1b[31m\x7f"), "\\x09\\x1b[31m\\x7f");
  EXPECT_EQ(AuditText("bob\" role=admin"), "bob\\\" role=admin") << "cannot close the quotes it is logged in";
  EXPECT_EQ(AuditText("a\\x0a"), "a\\\\x0a") << "a literal backslash is not mistaken for an escape";
}

TEST(AuditText, LongValuesAreCutAndMarked) {
  EXPECT_EQ(AuditText(std::string(300, 'x'), 4), "xxxx...");
  EXPECT_EQ(AuditText("abcd", 4), "abcd");
  EXPECT_EQ(AuditText(std::string(1000, '\n')).size(), 256 * 4 + 3) << "the cut comes before escaping";
}

}  // namespace
}  // namespace oa
