# shellcheck shell=bash disable=SC2034,SC2154  # variables are shared between the files e2e.sh sources
# pki.sh: a throwaway CA and an ocserv server certificate made with certtool (GnuTLS, as ocserv uses), and the
# pin-sha256 with which openconnect trusts it (openconnect 9 has no --no-cert-check). Sourced by e2e.sh.

# pki_make DIR: writes DIR/ca.{key,pem}, DIR/server.{key,pem}; sets E2E_SERVER_PIN ("pin-sha256:...").
pki_make() {
  local dir=$1
  mkdir -p "$dir"
  cat >"$dir/ca.tmpl" <<TMPL
cn = "ocserv-agent e2e CA"
organization = "ocserv-agent e2e (throwaway)"
serial = 1
expiration_days = 2
ca
signing_key
cert_signing_key
crl_signing_key
TMPL
  cat >"$dir/server.tmpl" <<TMPL
cn = "$E2E_SRV_IP"
organization = "ocserv-agent e2e (throwaway)"
serial = 2
expiration_days = 2
ip_address = "$E2E_SRV_IP"
signing_key
encryption_key
tls_www_server
TMPL
  certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --outfile "$dir/ca.key" >/dev/null 2>&1 &&
  certtool --generate-self-signed --load-privkey "$dir/ca.key" --template "$dir/ca.tmpl" \
    --outfile "$dir/ca.pem" >/dev/null 2>&1 &&
  certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --outfile "$dir/server.key" >/dev/null 2>&1 &&
  certtool --generate-certificate --load-privkey "$dir/server.key" --load-ca-certificate "$dir/ca.pem" \
    --load-ca-privkey "$dir/ca.key" --template "$dir/server.tmpl" --outfile "$dir/server.pem" >/dev/null 2>&1 ||
    die "certtool could not make the test PKI in $dir"
  chmod 600 "$dir"/*.key
  # certtool prints "pin-sha256:BASE64" for the public key; that is exactly what --servercert accepts.
  E2E_SERVER_PIN=$(certtool --certificate-info --infile "$dir/server.pem" 2>/dev/null |
    grep -o -m1 'pin-sha256:[A-Za-z0-9+/=]*')
  [ -n "$E2E_SERVER_PIN" ] || die "could not read the server certificate's pin-sha256"
}
