#!/usr/bin/env bash
# Makes a throwaway PKI for the demo and the tests (never for production): two CAs and the certificates every
# mTLS link here needs. Usage: scripts/dev-pki.sh DIR   (idempotent: an existing complete DIR is left as it is)
#
#   ca.pem / ca.key                    the dev CA that signs everything below
#   portal.pem / portal.key            the portal's server certificate (DNS:localhost, IP:127.0.0.1, DNS:portal.test)
#   agent-client.pem / .key            the agent's client certificate towards the portal (CN=agent.test)
#   management.pem / .key              the agent's management server certificate (DNS:localhost, IP:127.0.0.1)
#   mgmt-admin.pem / .key              management clients, one per role: SAN DNS admin.test / operator.test /
#   mgmt-operator.pem / .key           viewer.test, and one whose identity no config lists (stranger.test)
#   mgmt-viewer.pem / .key
#   mgmt-stranger.pem / .key
#   mgmt-cn-only.pem / .key            a client with no SAN, identity only in CN (cn-only.test)
#   rogue-ca.pem / .key                a second CA nobody trusts, and certificates it signed:
#   rogue-portal.pem / .key            a portal server certificate (same names as portal.pem)
#   rogue-client.pem / .key            a client certificate (SAN DNS admin.test) that must be refused
set -euo pipefail
dir=${1:?usage: dev-pki.sh DIR}
mkdir -p "$dir"
cd "$dir"
[ -f .complete ] && exit 0

days=3650
new_ca() {  # new_ca NAME CN
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.pem" \
    -days $days -subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}
new_cert() {  # new_cert NAME CA CN SAN(or "") USAGE(serverAuth|clientAuth)
  local name=$1 ca=$2 cn=$3 san=$4 usage=$5
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$name.key" -out "$name.csr" \
    -subj "/CN=$cn" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial -out "$name.pem" \
    -days $days -extfile "$name.ext" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

new_ca ca "ocserv-agent dev CA"
new_cert portal ca portal.test "DNS:localhost,DNS:portal.test,IP:127.0.0.1" serverAuth
new_cert agent-client ca agent.test "DNS:agent.test" clientAuth
new_cert management ca management.test "DNS:localhost,DNS:management.test,IP:127.0.0.1" serverAuth
for role in admin operator viewer stranger; do
  new_cert mgmt-$role ca $role.test "DNS:$role.test" clientAuth
done
new_cert mgmt-cn-only ca cn-only.test "" clientAuth
new_ca rogue-ca "rogue CA"
new_cert rogue-portal rogue-ca portal.test "DNS:localhost,DNS:portal.test,IP:127.0.0.1" serverAuth
new_cert rogue-client rogue-ca admin.test "DNS:admin.test" clientAuth
chmod 600 ./*.key
touch .complete
echo "dev-pki: wrote a throwaway PKI to $PWD"
