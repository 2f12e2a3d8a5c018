// The /proc parsers of the process_* metrics on fixed text, the live reader on this process, and the certificate
// expiry reader on a certificate made here with a known notAfter.
#include "agent/metrics/process_metrics.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include "agent/metrics/certificate_expiry.h"
#include "tests/fakes/temp_dir.h"

namespace oa {
namespace {

TEST(ProcessMetricsTest, ParsesProcSelfStatPastACommandNameWithSpacesAndParentheses) {
  // Fields 14/15 (utime 250, stime 50) and 22 (starttime 1000), 100 ticks per second.
  const std::string stat =
      "4242 (ocserv agent) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1000 12345 678 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
  auto t = ParseProcStat(stat, 100);
  ASSERT_TRUE(t.has_value());
  EXPECT_DOUBLE_EQ(t->cpu_seconds, 3.0);
  EXPECT_DOUBLE_EQ(t->start_after_boot_seconds, 10.0);
  EXPECT_FALSE(ParseProcStat("garbage", 100).has_value());
  EXPECT_FALSE(ParseProcStat("1 (x) S 1", 100).has_value()) << "too few fields";
}

TEST(ProcessMetricsTest, ParsesBootTimeAndResidentPages) {
  EXPECT_EQ(ParseBootTime("cpu 1 2 3\nbtime 1700000000\nprocesses 5\n"), 1700000000.0);
  EXPECT_FALSE(ParseBootTime("cpu 1 2 3\n").has_value());
  EXPECT_EQ(ParseResidentPages("5000 1234 300 10 0 900 0\n"), 1234u);
  EXPECT_FALSE(ParseResidentPages("").has_value());
}

TEST(ProcessMetricsTest, ReadsThisProcess) {
  const ProcessSnapshot p = ReadProcessSnapshot();
  EXPECT_GT(p.resident_bytes, 0u);
  EXPECT_GE(p.open_fds, 3u);  // stdin, stdout, stderr at least
  EXPECT_GE(p.max_fds, p.open_fds);
  EXPECT_GT(p.start_time_seconds, 1.5e9);  // after 2017: read from the boot time, not left at 0
}

TEST(CertificateExpiryTest, ReadsNotAfterOfAPemCertificate) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/cert.pem";
  {
    std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
    ASSERT_TRUE(key);
    std::unique_ptr<X509, void (*)(X509*)> cert(X509_new(), &X509_free);
    ASN1_TIME_set(X509_getm_notBefore(cert.get()), 1600000000);
    ASN1_TIME_set(X509_getm_notAfter(cert.get()), 1900000000);
    X509_set_pubkey(cert.get(), key.get());
    ASSERT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "w"), &std::fclose);
    ASSERT_TRUE(f);
    ASSERT_EQ(PEM_write_X509(f.get(), cert.get()), 1);
  }
  auto not_after = CertificateNotAfter(path);
  ASSERT_TRUE(not_after.ok()) << not_after.status();
  EXPECT_EQ(*not_after, 1900000000);
}

TEST(CertificateExpiryTest, AMissingOrBadFileIsANamedError) {
  testing::TempDir dir;
  auto missing = CertificateNotAfter(dir.path() + "/nope.pem");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope.pem"), std::string::npos);
  const std::string bad = dir.path() + "/bad.pem";
  std::ofstream(bad) << "not a certificate\n";
  EXPECT_EQ(CertificateNotAfter(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace oa
