# tests/linux/kut-cases.sh - what kvm-unit-tests' x86 kernels need of mvm, with a tiny guest of our
# own (the suite itself is not in the tree: tests/kvm-unit-tests/run.sh runs it). Sourced by run.sh.
KUT_CASES=(multiboot-kut multiboot-s3 hyperv-linux)

# tests/guests/mk-pvh-guest.py multiboot-kut, run the way tests/kvm-unit-tests/run.sh runs a test
# (QEMU's way: -smp 2 -m 256 -append ARGS -initrd EMPTY-ENV, --pc-testdev): it checks fw_cfg
# (signature, NB_CPUS, RAM_SIZE, ID, an unknown key), the empty module, argv[0] and the PIC's vector
# bases as a BIOS leaves them (IRQ 11 from pc-testdev at vector 0x73) itself, exits 67 through
# isa-debug-exit when all hold, and prints its command line, which must be "<kernel path> kutarg".
case_multiboot-kut() {
	local f env=$work/kut-empty.env want got
	f=$(tiny_guest multiboot-kut) ||
		{ notok multiboot-kut "cannot build the guest (tests/guests/mk-pvh-guest.py needs python3)"; return; }
	: >"$env"
	vm_start multiboot-kut /dev/null run --kernel "$f" --cpus 2 --mem 256 --initrd "$env" \
		--cmdline kutarg --debug-exit --pc-testdev
	want="CMDLINE=$f kutarg"
	if ! vm_wait_exit "$QUICK_TIMEOUT"; then fail_case multiboot-kut "mvm still running $QUICK_TIMEOUT s after start"
	elif grep -qa 'file is empty' "$VM_ERR"; then fail_case multiboot-kut "the empty --initrd was refused"
	else
		case "$VM_RC" in
		67) got=$(tr -d '\r' <"$VM_OUT" | grep -a '^CMDLINE=' | head -n1)
		    if [ "$got" != "$want" ]; then fail_case multiboot-kut "the guest's command line is \"${got#CMDLINE=}\", want \"${want#CMDLINE=}\""
		    elif grep -qaE 'AddressSanitizer|runtime error' "$VM_ERR"; then fail_case multiboot-kut "mvm reported an error"
		    else ok multiboot-kut; fi ;;
		3) fail_case multiboot-kut "mvm exited 3: the guest saw EAX != 0x2BADB002" ;;
		5) fail_case multiboot-kut "mvm exited 5: no fw_cfg signature \"QEMU\" at port 0x510" ;;
		7) fail_case multiboot-kut "mvm exited 7: fw_cfg NB_CPUS is not 2" ;;
		9) fail_case multiboot-kut "mvm exited 9: fw_cfg RAM_SIZE is not 256 MiB" ;;
		11) fail_case multiboot-kut "mvm exited 11: fw_cfg ID is not 1" ;;
		13) fail_case multiboot-kut "mvm exited 13: an unknown fw_cfg key does not read 0" ;;
		15) fail_case multiboot-kut "mvm exited 15: no single empty multiboot module" ;;
		17) fail_case multiboot-kut "mvm exited 17: the command line does not start with argv[0]" ;;
		19) fail_case multiboot-kut "mvm exited 19: IRQ 11 raised through pc-testdev never arrived" ;;
		21) fail_case multiboot-kut "mvm exited 21: IRQ 11 arrived, but not at vector 0x73 (the PIC's vector bases are not the BIOS's 0x08/0x70)" ;;
		*) fail_case multiboot-kut "mvm exited $VM_RC, expected 67 ((0x21 << 1) | 1)" ;;
		esac
	fi
}

# tests/guests/mk-pvh-guest.py multiboot-s3, as kvm-unit-tests' s3.flat sleeps: it finds the FACS
# and the PM1a blocks through RSDP, XSDT and FADT, sets the waking vector, arms the RTC alarm and
# RTC_EN, and enters S3 through PM1a_CNT. mvm must park it (a vCPU running past the sleep write
# leaves 0x22 at address 0: exit 69) until the alarm, then resume vCPU 0 in real mode at the waking
# vector with WAK_STS and RTC_STS set, where it exits 67; mvm logs the sleep and the wake.
case_multiboot-s3() {
	local f name=multiboot-s3
	f=$(tiny_guest multiboot-s3) ||
		{ notok $name "cannot build the guest (tests/guests/mk-pvh-guest.py needs python3)"; return; }
	vm_start $name /dev/null run --kernel "$f" --cpus 2 --mem 64 --debug-exit
	if ! vm_wait_exit 30; then fail_case $name "mvm still running 30 s after start (never woke from S3?)"
	elif grep -qa 'seccomp: thread' "$VM_ERR"; then fail_case $name "mvm exited $VM_RC on a seccomp violation"
	else
		case "$VM_RC" in
		67) if ! grep -qa 'guest entered ACPI S3 sleep' "$VM_ERR"; then fail_case $name "mvm did not log the guest's S3 sleep"
		    elif ! grep -qa 'guest woke from ACPI S3' "$VM_ERR"; then fail_case $name "mvm did not log the wake"
		    elif grep -qaE 'AddressSanitizer|runtime error' "$VM_ERR"; then fail_case $name "mvm reported an error"
		    else ok $name; fi ;;
		5) fail_case $name "mvm exited 5: no RSDP at 0xE0000" ;;
		7) fail_case $name "mvm exited 7: the RSDP's XSDT address holds no XSDT" ;;
		9) fail_case $name "mvm exited 9: no FADT in the XSDT" ;;
		11) fail_case $name "mvm exited 11: the FADT's FIRMWARE_CTRL holds no FACS" ;;
		13) fail_case $name "mvm exited 13: the FADT has no PM1a event block" ;;
		15) fail_case $name "mvm exited 15: the FADT has no PM1a control block" ;;
		23) fail_case $name "mvm exited 23: resumed, but PM1_STS lacks WAK_STS or RTC_STS" ;;
		69) fail_case $name "mvm exited 69: the vCPU ran on after the S3 sleep write" ;;
		*) fail_case $name "mvm exited $VM_RC, expected 67 ((0x21 << 1) | 1)" ;;
		esac
	fi
}

# --cpu-hyperv on Debian's kernel, 2 vCPUs, through the API: the guest still finds KVM's own leaves
# (moved to 0x40000100) and runs on kvm-clock; a snapshot and a migration of the VM are refused
# with a message naming --cpu-hyperv (mvm does not save the SynIC and synthetic timer state),
# and the VM runs on after both.
case_hyperv-linux() {
	local name=hyperv-linux cs out rc n
	have_curl "$name" || return
	bad=
	api_start "$name" /dev/null --cpus 2 --cpu-hyperv --kernel "$kernel" --initrd "$initrd" \
		--cmdline "$BASE_CMDLINE clocksource=kvm-clock mvmtest=count" || return
	expect "$name" 204 "$(api PUT /actions '{"action_type": "InstanceStart"}')" "InstanceStart"
	snap_wait_count "$VM_OUT" 3 "$BOOT_TIMEOUT" ||
		bad=${bad:-"the guest never counted to 3 ($(vm_tail | tail -n 3 | tr '\n' ' '))"}
	cs=$(tr -d '\r' <"$VM_OUT" | sed -n 's/^MVM-CLOCKSOURCE=//p' | head -n1)
	[ -n "$bad" ] || [ "$cs" = kvm-clock ] ||
		bad="the guest's clocksource is '$cs', not kvm-clock (KVM's leaves not found at 0x40000100?)"
	expect "$name" 204 "$(api PATCH /vm '{"state": "Paused"}')" "pause"
	if [ -z "$bad" ]; then
		out=$("$mvm" ctl --api-sock "$API_SOCK" snapshot "$work/$name-snap" 2>&1); rc=$?
		[ $rc != 0 ] && grep -q -- '--cpu-hyperv' <<<"$out" ||
			bad="mvm ctl snapshot: exit $rc, expected a refusal naming --cpu-hyperv: $(head -c 300 <<<"$out")"
		[ -e "$work/$name-snap/vmstate" ] && bad=${bad:-"the refused snapshot left a state file"}
	fi
	if [ -z "$bad" ]; then
		out=$("$mvm" ctl --api-sock "$API_SOCK" migrate tcp:127.0.0.1:9 2>&1); rc=$?
		[ $rc != 0 ] && grep -q -- '--cpu-hyperv' <<<"$out" ||
			bad="mvm ctl migrate: exit $rc, expected a refusal naming --cpu-hyperv: $(head -c 300 <<<"$out")"
	fi
	expect "$name" 204 "$(api PATCH /vm '{"state": "Resumed"}')" "resume"
	n=$(( $(snap_last_count "$VM_OUT") + 3 ))
	[ -n "$bad" ] || snap_wait_count "$VM_OUT" "$n" 30 || bad="the guest did not count on to $n after the refusals"
	"$mvm" ctl --api-sock "$API_SOCK" stop --grace 10 >/dev/null 2>&1
	api_wait_exit 15 || :
	if [ -n "$bad" ]; then notok "$name" "$bad"; vm_tail; else ok "$name"; fi
}
