#!/usr/bin/env bash
# The shared library's ABI surface (mring.h, "ABI and versions"): its
# SONAME, and that it exports the public functions only -- every defined
# dynamic symbol is an mring_[a-z]* name with a version node MRING_0.x,
# never an internal mring__ name or anything else. readelf reads any
# architecture's ELF, so this runs on cross builds too.
#   abi_symbols.sh LIBMRING.so
set -euo pipefail
lib=$1
command -v readelf >/dev/null || {
	echo "SKIP: readelf (binutils) not found"
	exit 77
}
fail=0
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [[ $soname != libmring.so.0 ]]; then
	echo "FAIL: SONAME is '$soname', expected libmring.so.0"
	fail=1
fi
n=0
found=" "
# Num: Value Size Type Bind Vis Ndx Name[@@VERSION]; defined ones only.
while read -r _ _ _ type bind _ ndx name; do
	[[ $ndx == UND || $bind == LOCAL || -z $name ]] && continue
	sym=${name%%@*}
	ver=
	[[ $name == *@* ]] && ver=${name##*@}
	# The version node itself: an absolute symbol named after it.
	[[ $type == OBJECT && $ndx == ABS && $sym =~ ^MRING_[0-9.]+$ ]] &&
		continue
	if [[ ! $sym =~ ^mring_[a-z] ]]; then
		echo "FAIL: exports a non-public symbol: $name"
		fail=1
	elif [[ ! $ver =~ ^MRING_0\.[0-9]+$ ]]; then
		echo "FAIL: $sym has no MRING_0.x version node: '$name'"
		fail=1
	fi
	found+="$sym@$ver "
	n=$((n + 1))
done < <(readelf --dyn-syms -W "$lib" | grep -E '^ +[0-9]+:')
for f in mring_open mring_close mring_inspect mring_strerror; do
	if [[ $found != *" $f@MRING_0.1 "* ]]; then
		echo "FAIL: $f is not exported as $f@@MRING_0.1"
		fail=1
	fi
done
echo "$n symbols checked, SONAME $soname"
exit $fail
