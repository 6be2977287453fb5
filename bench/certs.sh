#!/bin/sh
# Generate the benchmark's own PKI into DIR (default build/bench/certs):
# a private CA (ECDSA P-256) and two server certificates it signs, one
# ECDSA P-256 and one RSA-2048, each valid for mx.bench.test (what the
# load clients ask for) and starttls-mx.bench.test (the remote MX of the
# outbound cases). Files: ca.pem, {ecdsa,rsa}.{pem,key}, and
# {ecdsa,rsa}.combined.pem (certificate then key, for HAProxy's crt).
# Existing files are kept, so repeated runs compare like with like.
set -eu

dir=${1:-build/bench/certs}
mkdir -p "$dir"
cd "$dir"

if [ -s ca.pem ] && [ -s ecdsa.combined.pem ] && [ -s rsa.combined.pem ] &&
    openssl x509 -in ca.pem -noout -checkend 86400 >/dev/null 2>&1; then
	exit 0
fi

cat > leaf.ext <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:mx.bench.test, DNS:starttls-mx.bench.test
EOF

openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -sha256 -days 90 \
    -subj "/CN=mxgate bench CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem

openssl ecparam -name prime256v1 -genkey -noout -out ecdsa.key 2>/dev/null
openssl genrsa -traditional -out rsa.key 2048 2>/dev/null

for k in ecdsa rsa; do
	openssl req -new -key $k.key -subj "/CN=mx.bench.test" -out $k.csr
	openssl x509 -req -in $k.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
	    -days 90 -sha256 -extfile leaf.ext -out $k.pem 2>/dev/null
	cat $k.pem $k.key > $k.combined.pem
	rm -f $k.csr
done
chmod 600 ./*.key ./*.combined.pem
echo "certificates in $(pwd)"
