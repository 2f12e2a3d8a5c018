// oa-e2e-rpc: the few gRPC calls the e2e shell scripts make (tests/e2e/lib/live.sh), over mTLS, printing each answer
// flattened to one `field=value` line per scalar (maps as `field.key=value`, repeated messages as
// `field.N.sub=value`) so that a script reads a field with grep, never by parsing protobuf.
//
//   oa-e2e-rpc --addr HOST:PORT --ca FILE --cert FILE --key FILE COMMAND [ARGS]
//     sim-stats                 ocserv_agent.v1.PortalSimControl/GetStats (the reference portal)
//     sim-revoke USER REASON    PortalSimControl/PublishPolicyEvent with a Revoke of USER; prints version=N
//     agent-status              ocserv_agent.v1.AgentControl/GetStatus (the agent's management API)
//
// Exits 0 on an OK answer, 1 with the gRPC status on stderr otherwise, 2 on a usage error. A test tool: never
// packaged.
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "ocserv_agent/v1/control.grpc.pb.h"
#include "ocserv_agent/v1/portal_sim.grpc.pb.h"

namespace {

namespace pb = ocserv_agent::v1;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

[[noreturn]] void Usage(const std::string& why) {
  std::cerr << "oa-e2e-rpc: " << why << "\n"
            << "usage: oa-e2e-rpc --addr HOST:PORT --ca FILE --cert FILE --key FILE "
               "(sim-stats | sim-revoke USER REASON | agent-status)\n";
  std::exit(2);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Usage("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string ScalarText(const Message& m, const Reflection& r, const FieldDescriptor* f, int index) {
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: return std::to_string(rep ? r.GetRepeatedInt32(m, f, index) : r.GetInt32(m, f));
    case FieldDescriptor::CPPTYPE_INT64: return std::to_string(rep ? r.GetRepeatedInt64(m, f, index) : r.GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return std::to_string(rep ? r.GetRepeatedUInt32(m, f, index) : r.GetUInt32(m, f));
    case FieldDescriptor::CPPTYPE_UINT64:
      return std::to_string(rep ? r.GetRepeatedUInt64(m, f, index) : r.GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return std::to_string(rep ? r.GetRepeatedDouble(m, f, index) : r.GetDouble(m, f));
    case FieldDescriptor::CPPTYPE_FLOAT: return std::to_string(rep ? r.GetRepeatedFloat(m, f, index) : r.GetFloat(m, f));
    case FieldDescriptor::CPPTYPE_BOOL: return (rep ? r.GetRepeatedBool(m, f, index) : r.GetBool(m, f)) ? "true" : "false";
    case FieldDescriptor::CPPTYPE_ENUM: return (rep ? r.GetRepeatedEnum(m, f, index) : r.GetEnum(m, f))->name();
    case FieldDescriptor::CPPTYPE_STRING: return rep ? r.GetRepeatedString(m, f, index) : r.GetString(m, f);
    case FieldDescriptor::CPPTYPE_MESSAGE: break;
  }
  return "?";
}

// Every field, set or not (proto3 scalars at their default print too: a counter at 0 is an answer, not a gap).
void Flatten(const Message& m, const std::string& prefix, std::ostream& out) {
  const auto* d = m.GetDescriptor();
  const Reflection& r = *m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const std::string name = prefix + f->name();
    if (f->is_map()) {
      for (int j = 0; j < r.FieldSize(m, f); ++j) {
        const Message& entry = r.GetRepeatedMessage(m, f, j);
        const auto* ed = entry.GetDescriptor();
        out << name << '.' << ScalarText(entry, *entry.GetReflection(), ed->field(0), 0) << '='
            << ScalarText(entry, *entry.GetReflection(), ed->field(1), 0) << '\n';
      }
    } else if (f->is_repeated()) {
      for (int j = 0; j < r.FieldSize(m, f); ++j) {
        const std::string item = name + '.' + std::to_string(j);
        if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          Flatten(r.GetRepeatedMessage(m, f, j), item + '.', out);
        } else {
          out << item << '=' << ScalarText(m, r, f, j) << '\n';
        }
      }
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (r.HasField(m, f)) Flatten(r.GetMessage(m, f), name + '.', out);
    } else {
      out << name << '=' << ScalarText(m, r, f, 0) << '\n';
    }
  }
}

int Finish(const grpc::Status& status, const Message& reply, const std::string& what) {
  if (!status.ok()) {
    std::cerr << "oa-e2e-rpc: " << what << ": " << status.error_code() << " " << status.error_message() << "\n";
    return 1;
  }
  Flatten(reply, "", std::cout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string addr, ca, cert, key;
  int i = 1;
  for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--addr") addr = argv[i + 1];
    else if (flag == "--ca") ca = argv[i + 1];
    else if (flag == "--cert") cert = argv[i + 1];
    else if (flag == "--key") key = argv[i + 1];
    else Usage("unknown flag " + flag);
  }
  if (addr.empty() || ca.empty() || cert.empty() || key.empty()) Usage("--addr, --ca, --cert and --key are required");
  if (i >= argc) Usage("no command");
  const std::string command = argv[i++];

  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ReadFile(ca);
  tls.pem_cert_chain = ReadFile(cert);
  tls.pem_private_key = ReadFile(key);
  auto channel = grpc::CreateChannel(addr, grpc::SslCredentials(tls));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));

  if (command == "sim-stats") {
    pb::PortalSimStats reply;
    return Finish(pb::PortalSimControl::NewStub(channel)->GetStats(&ctx, {}, &reply), reply, "GetStats");
  }
  if (command == "sim-revoke") {
    if (i + 2 != argc) Usage("sim-revoke USER REASON");
    pb::PublishPolicyEventRequest req;
    req.mutable_event()->mutable_revoke()->mutable_subject()->set_username(argv[i]);
    req.mutable_event()->mutable_revoke()->set_reason(argv[i + 1]);
    pb::PublishPolicyEventResponse reply;
    return Finish(pb::PortalSimControl::NewStub(channel)->PublishPolicyEvent(&ctx, req, &reply), reply,
                  "PublishPolicyEvent");
  }
  if (command == "agent-status") {
    pb::GetStatusResponse reply;
    return Finish(pb::AgentControl::NewStub(channel)->GetStatus(&ctx, {}, &reply), reply, "GetStatus");
  }
  Usage("unknown command " + command);
}
