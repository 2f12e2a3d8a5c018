// Tells systemd (Type=notify) where the daemon is in its life: READY=1 once serving, RELOADING=1 while a SIGHUP
// reload runs (READY=1 again when it ends, accepted or not), STOPPING=1 on the way out, and a STATUS= line that
// `systemctl status` shows. Every call is a no-op when NOTIFY_SOCKET is unset (not run by systemd).
// Thread-safety: all methods may be called from any thread (each is one datagram).
#pragma once

#include <string_view>

namespace oa {

class SystemdNotifier {
 public:
  void Ready(std::string_view status);
  void Reloading();
  void Stopping();
  void Status(std::string_view status);
};

}  // namespace oa
