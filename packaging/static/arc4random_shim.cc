// arc4random(3) for the release agent: the one function that would make it need glibc 2.36 (Debian 12's) where EL9
// has 2.34. libstdc++.a (GCC 12, built against glibc 2.36) calls it for std::random_device, which gRPC and our
// backoff jitter use; linking libstdc++ statically would then import arc4random@GLIBC_2.36 and the agent would not
// start on EL9 ("version `GLIBC_2.36' not found"). Defined here, in the executable, the static link binds that call
// to this definition instead. Same contract as glibc's: cryptographically secure bytes from getrandom(2) (glibc 2.25,
// Linux 3.17), which blocks only until the kernel's pool is first seeded, and abort() if it cannot deliver
// (glibc's arc4random never fails either; it terminates the process).
#include <sys/random.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" uint32_t arc4random(void) noexcept {
  uint32_t value = 0;
  auto* bytes = reinterpret_cast<unsigned char*>(&value);
  size_t got = 0;
  while (got < sizeof value) {
    const ssize_t n = getrandom(bytes + got, sizeof value - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      abort();
    }
  }
  return value;
}
