#!/usr/bin/perl
# bench/report.pl WORKDIR OUTDIR: turn the raw records of bench/run.sh
# (WORKDIR/raw.txt, meta.txt, ps-start.txt, ps-end.txt) into
# OUTDIR/latest.md and OUTDIR/latest.json. Core Perl only.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);

my ($work, $out) = @ARGV;
die "usage: $0 WORKDIR OUTDIR\n" unless defined $out;

# ------------------------------------------------------------ parsing

sub kv {
	my ($line) = @_;
	my %h;
	while ($line =~ /([A-Za-z0-9_]+)=("([^"]*)"|\S*)/g) {
		$h{$1} = defined $3 ? $3 : $2;
	}
	return \%h;
}

my %meta;
open(my $mf, '<', "$work/meta.txt") or die "meta.txt: $!\n";
while (<$mf>) {
	chomp;
	next unless /^([a-z_0-9]+)=(.*)$/;
	$meta{$1} = $2;
}
close $mf;
if (defined $meta{bulk}) {
	# "bulk=1G hs_secs=4 ..." is one line of several settings.
	my $h = kv("bulk=$meta{bulk}");
	$meta{$_} = $h->{$_} for keys %$h;
}

my (%recs, @order);
open(my $rf, '<', "$work/raw.txt") or die "raw.txt: $!\n";
while (<$rf>) {
	chomp;
	my $h = kv($_);
	my $id = $h->{rec};
	next unless defined $id;
	if (!exists $recs{$id}) {
		$recs{$id} = { id => $id };
		push @order, $id;
	}
	if (defined $h->{src}) {
		my $src = $h->{src};
		delete @$h{qw(rec src)};
		$recs{$id}{$src} = $h;
	} else {
		delete $h->{rec};
		$recs{$id}{hdr} = $h;
	}
}
close $rf;

# ------------------------------------------------------------ numbers

sub num { my ($v) = @_; return (defined $v && $v =~ /^-?[0-9.]+(e-?[0-9]+)?$/) ? $v + 0 : undef; }

sub median {
	my @v = sort { $a <=> $b } @_;
	return undef unless @v;
	my $n = @v;
	return $n % 2 ? $v[($n - 1) / 2] : ($v[$n / 2 - 1] + $v[$n / 2]) / 2;
}

sub size_bytes {
	my ($s) = @_;
	return undef unless defined $s && $s =~ /^(\d+)([kKmMgG]?)$/;
	my %m = ('' => 1, k => 1024, m => 1024**2, g => 1024**3);
	return $1 * $m{lc $2};
}

# Per-record metrics and a verdict. A failure voids the measurement; an
# anomaly (a crash while stopping, after the window) is only reported.
my (@failures, @anomalies);
my %signame = (4 => 'SIGILL', 6 => 'SIGABRT', 7 => 'SIGBUS', 8 => 'SIGFPE',
    9 => 'SIGKILL', 11 => 'SIGSEGV', 13 => 'SIGPIPE');
for my $id (@order) {
	my $r = $recs{$id};
	my $h = $r->{hdr} || {};
	my $c = $r->{client} || {};
	my $s = $r->{sink} || {};
	my $t = $r->{term};
	my $w = $r->{win} || {};
	my %m;
	my @why;
	my $case = $h->{case} // '?';
	push @why, "client: " . ($c->{error} // 'failed') if ($c->{ok} // 0) != 1;
	if (defined $t) {
		push @why, "terminator was not running at the end of the window (stop: $t->{stop})"
		    if ($t->{alive} // 0) != 1;
		push @why, "terminator did not stop on SIGTERM within 10 s (killed)"
		    if ($t->{stop} // '') eq 'killed';
		push @why, "terminator log has $t->{log_trouble} error line(s)"
		    if ($t->{log_trouble} // 0) > 0;
		# 143 is the SIGTERM it was sent; anything else above 128
		# is a signal of its own making.
		if (($t->{stop} // '') =~ /^exited (\d+)$/ && $1 > 128 && $1 != 143) {
			my $sig = $1 - 128;
			push @anomalies, { rec => $r, what => "exited with status $1 (" .
			    ($signame{$sig} // "signal $sig") . ") when stopped with SIGTERM, " .
			    "after the measurement window; the measurement stands" };
		}
	}
	my $tcpu = num($w->{term_cpu_s});
	if ($case eq 'a') {
		my $bytes = num($c->{bytes}) // 0;
		$m{mibps} = num($c->{mibps});
		$m{cpu_s_per_gib} = $bytes ? $tcpu / ($bytes / 2**30) : undef;
		push @why, "sink received $s->{bytes} bytes of $bytes"
		    if defined $s->{bytes} && $s->{bytes} != $bytes;
		push @why, "sink saw bytes that differ from what was sent (bad=$s->{bad})"
		    if ($s->{bad} // 0) != 0;
	} elsif ($case eq 'b') {
		my $n = num($c->{handshakes}) // 0;
		$m{rate} = num($c->{rate});
		$m{cpu_us_per_hs} = $n ? $tcpu * 1e6 / $n : undef;
		$m{p50_ms} = num($c->{p50_ms});
		$m{p99_ms} = num($c->{p99_ms});
	} elsif ($case eq 'c') {
		my $n = num($c->{established}) // 0;
		my $mm = $r->{mem} || {};
		if ($n > 0 && defined $mm->{rss1_kib}) {
			$m{rss_kib_per_conn} = ($mm->{rss1_kib} - $mm->{rss0_kib}) / $n;
			$m{pss_kib_per_conn} = ($mm->{pss1_kib} - $mm->{pss0_kib}) / $n;
			$m{threads} = num($mm->{threads1});
		}
		$m{open_secs} = num($c->{open_secs});
		push @why, "holder not ready" if ($c->{ready} // 0) != 1;
	} elsif ($case eq 'd') {
		my $n = num($c->{messages}) // 0;
		$m{rate} = num($c->{rate});
		$m{cpu_ms_per_msg} = ($n && defined $t) ? $tcpu * 1e3 / $n : undef;
		$m{p50_ms} = num($c->{p50_ms});
		$m{p99_ms} = num($c->{p99_ms});
		my $tls = num($s->{tls}) // 0;
		$m{resumed_pct} = $tls ? 100 * ($s->{resumed} // 0) / $tls : undef
		    if defined $t;
		my $got = (num($s->{messages}) // 0) - (num($s->{warmup}) // 0);
		push @why, "sink accepted $got messages, client got 250 for $n"
		    if defined $s->{messages} && $got < $n;
		push @why, "sink saw messages that differ from what was sent (bad=$s->{bad})"
		    if ($s->{bad} // 0) != 0;
		push @why, "sink saw $s->{errors} protocol/TLS error(s): " . ($s->{error} // '')
		    if ($s->{errors} // 0) != 0;
	} elsif ($case eq 'e') {
		my $n = num($c->{messages}) // 0;
		my $size = num($c->{size}) // 0;
		my $bytes = $n * $size;
		$m{cpu_s_per_gib} = $bytes ? $tcpu / ($bytes / 2**30) : undef;
		# The relay and the MX together: on loopback, the MX's
		# receive work runs in whichever of the two gets to it.
		$m{pair_cpu_s_per_gib} = $bytes && defined num($w->{sink_cpu_s}) ?
		    ($tcpu + $w->{sink_cpu_s}) / ($bytes / 2**30) : undef;
		$m{mibps} = (num($c->{secs}) // 0) > 0 ? $bytes / 2**20 / $c->{secs} : undef;
		push @why, "sink accepted " . ($s->{messages} // '?') . " messages, client sent $n"
		    if ($s->{messages} // -1) != $n;
		push @why, "sink saw messages that differ from what was sent (bad=$s->{bad})"
		    if ($s->{bad} // 0) != 0;
	}
	# What others did with the machine during the window.
	# reaped_cpu_s: the load client and the harness's helpers, all
	# children of run.sh reaped during the window.
	if (defined $w->{sys_task_s}) {
		my $all = num($w->{sys_all_s}) || 1;
		my $term = defined $t ? ($tcpu // 0) : 0;	# direct: no terminator
		my $sink = num($w->{sink_cpu_s}) // 0;
		my $client = num($c->{cpu_s}) // 0;
		my $reaped = num($w->{reaped_cpu_s}) // $client;
		$reaped = $client if $reaped < $client;
		my $other = $w->{sys_task_s} - $term - $sink - $reaped;
		$other = 0 if $other < 0;
		my $busy = $w->{sys_task_s} + $w->{sys_irq_s} + $w->{sys_steal_s};
		$m{irq_pct} = 100 * $w->{sys_irq_s} / $all;
		$m{steal_pct} = 100 * $w->{sys_steal_s} / $all;
		$m{term_pct} = 100 * $term / $all if defined $t;
		$m{client_pct} = 100 * $client / $all;
		$m{sink_pct} = 100 * $sink / $all;
		$m{harness_pct} = 100 * ($reaped - $client) / $all;
		$m{other_cpu_pct} = 100 * $other / $all;
		$m{idle_pct} = 100 * ($all - $busy) / $all;
		$m{term_cpu_s} = $tcpu if defined $t;
	}
	$r->{metrics} = \%m;
	$r->{ok} = @why ? 0 : 1;
	$r->{why} = \@why;
	push @failures, $r if @why;
}

# Added latency for d: the same round and concurrency, direct to the sink.
my %direct;
for my $id (@order) {
	my $r = $recs{$id};
	my $h = $r->{hdr} || {};
	next unless ($h->{case} // '') eq 'd' && $h->{term} eq 'direct' && $r->{ok};
	$direct{"$h->{round}/$h->{conc}"} = $r->{metrics};
}
for my $id (@order) {
	my $r = $recs{$id};
	my $h = $r->{hdr} || {};
	next unless ($h->{case} // '') eq 'd' && $h->{term} ne 'direct';
	my $d = $direct{"$h->{round}/$h->{conc}"} or next;
	for my $p (qw(p50_ms p99_ms)) {
		$r->{metrics}{"added_$p"} = $r->{metrics}{$p} - $d->{$p}
		    if defined $r->{metrics}{$p} && defined $d->{$p};
	}
}

# ------------------------------------------------------------ groups

# Group key: case and sub-case; then terminator.
sub subkey {
	my ($h) = @_;
	return "$h->{key}/$h->{conc}" if $h->{case} eq 'b';
	return "$h->{conc}" if $h->{case} eq 'd';
	return '';
}

my %groups;	# {case}{sub}{term} = { n, n_ok, metric => [values] }
my %subs;
for my $id (@order) {
	my $r = $recs{$id};
	my $h = $r->{hdr} or next;
	my $g = $groups{$h->{case}}{subkey($h)}{$h->{term}} //= { n => 0, n_ok => 0, values => {} };
	$subs{$h->{case}}{subkey($h)} = 1;
	$g->{n}++;
	next unless $r->{ok};
	$g->{n_ok}++;
	for my $k (keys %{$r->{metrics}}) {
		my $v = $r->{metrics}{$k};
		push @{$g->{values}{$k}}, $v if defined $v;
	}
}
for my $case (keys %groups) {
	for my $sub (keys %{$groups{$case}}) {
		for my $term (keys %{$groups{$case}{$sub}}) {
			my $g = $groups{$case}{$sub}{$term};
			for my $k (keys %{$g->{values}}) {
				my @v = @{$g->{values}{$k}};
				my @s = sort { $a <=> $b } @v;
				$g->{stats}{$k} = { median => median(@v), min => $s[0],
				    max => $s[-1], values => \@v };
			}
		}
	}
}

sub stat_of {
	my ($case, $sub, $term, $k) = @_;
	my $g = $groups{$case}{$sub}{$term} or return undef;
	return $g->{stats}{$k};
}
sub med { my $s = stat_of(@_); return $s ? $s->{median} : undef; }

# Ratios of medians: mxgate (or a variant) over a peer, with the target
# the project sets for it where there is one. dir: 'le' (lower is better) or 'ge'.
my @ratios;
sub ratio {
	my ($case, $sub, $metric, $num, $den, $target, $dir, $label) = @_;
	my $a = med($case, $sub, $num, $metric);
	my $b = med($case, $sub, $den, $metric);
	my $x = (defined $a && defined $b && $b != 0) ? $a / $b : undef;
	my $met;
	$met = ($dir eq 'le' ? $x <= $target : $x >= $target) ? 1 : 0
	    if defined $x && defined $target;
	push @ratios, { case => $case, sub => $sub, metric => $metric,
	    num => $num, den => $den, ratio => $x, target => $target,
	    dir => $dir, met => $met, label => $label };
}

for my $peer (qw(stunnel haproxy)) {
	my $isha = $peer eq 'haproxy';
	ratio('a', '', 'cpu_s_per_gib', 'mxgate', $peer, $isha ? 0.6 : undef, 'le', 'CPU-s per GiB');
	ratio('a', '', 'mibps', 'mxgate', $peer, $isha ? 1.2 : undef, 'ge', 'MiB/s');
	for my $sub (sort keys %{$subs{b} || {}}) {
		my $t = $sub =~ /^ecdsa/ ? 0.5 : 1.0;
		ratio('b', $sub, 'cpu_us_per_hs', 'mxgate', $peer, $isha ? $t : undef, 'le', 'CPU per handshake');
		ratio('b', $sub, 'rate', 'mxgate', $peer, undef, 'ge', 'handshakes/s');
		ratio('b', $sub, 'p99_ms', 'mxgate', $peer, undef, 'le', 'p99 latency');
	}
	ratio('c', '', 'rss_kib_per_conn', 'mxgate', $peer, $isha ? 0.5 : undef, 'le', 'RSS per idle connection');
	ratio('c', '', 'pss_kib_per_conn', 'mxgate', $peer, undef, 'le', 'PSS per idle connection');
}
for my $sub (sort { $a <=> $b } keys %{$subs{d} || {}}) {
	ratio('d', $sub, 'rate', 'mxgate', 'stunnel', 5, 'ge', 'messages/s');
	ratio('d', $sub, 'cpu_ms_per_msg', 'mxgate', 'stunnel', 0.3, 'le', 'CPU per message');
	ratio('d', $sub, 'p99_ms', 'mxgate', 'stunnel', undef, 'le', 'p99 latency');
}
ratio('e', '', 'cpu_s_per_gib', 'mxgate_bdat', 'splice_relay_bdat', 1.3, 'le', 'CPU-s per GiB, BDAT, splice on');
ratio('e', '', 'cpu_s_per_gib', 'mxgate_bdat_copy', 'splice_relay_bdat', undef, 'le', 'CPU-s per GiB, BDAT, splice off');
ratio('e', '', 'cpu_s_per_gib', 'mxgate_splice', 'splice_relay', 1.3, 'le', 'CPU-s per GiB, DATA, splice on');
ratio('e', '', 'cpu_s_per_gib', 'mxgate_copy', 'splice_relay', undef, 'le', 'CPU-s per GiB, DATA, splice off');
ratio('e', '', 'cpu_s_per_gib', 'mxgate_copy', 'mxgate_splice', undef, 'le', 'DATA, splice off over splice on');
ratio('e', '', 'pair_cpu_s_per_gib', 'mxgate_bdat', 'splice_relay_bdat', undef, 'le', 'relay and MX CPU-s per GiB, BDAT, splice on');
ratio('e', '', 'pair_cpu_s_per_gib', 'mxgate_splice', 'splice_relay', undef, 'le', 'relay and MX CPU-s per GiB, DATA, splice on');
{
	my %rank = (a => 1, b => 2, c => 3, d => 4, e => 5);
	my $i = 0;
	$_->{i} = $i++ for @ratios;
	my $bysub = sub {
		my ($x, $y) = @_;
		return ($x =~ /^\d+$/ && $y =~ /^\d+$/) ? $x <=> $y : $x cmp $y;
	};
	@ratios = sort { $rank{$a->{case}} <=> $rank{$b->{case}} ||
	    $bysub->($a->{sub}, $b->{sub}) || $a->{i} <=> $b->{i} } @ratios;
	delete $_->{i} for @ratios;
}

# ------------------------------------------------------------ load

my %load;
for my $k (qw(other_cpu_pct steal_pct irq_pct)) {
	my @v = map { $recs{$_}{metrics}{$k} } grep { defined $recs{$_}{metrics}{$k} } @order;
	$load{"${k}_median"} = median(@v);
	$load{"${k}_max"} = (sort { $a <=> $b } @v)[-1];
}

sub read_ps {
	my ($f) = @_;
	my %p;
	open(my $fh, '<', $f) or return {};
	while (<$fh>) {
		next unless /^\s*(\d+)\s+(.*?)\s+(\d+)\s*$/;
		$p{$1} = { comm => $2, cpu => $3 };
	}
	close $fh;
	return \%p;
}
my $ps0 = read_ps("$work/ps-start.txt");
my $ps1 = read_ps("$work/ps-end.txt");
my %ours = map { $_ => 1 } qw(mxgate stunnel4 haproxy dnsmasq count_sink bulk_send
    hs_loop idle_hold smtp_load smtp_sink splice_relay run.sh ps make);
my @busy;
for my $pid (keys %$ps1) {
	my $p = $ps1->{$pid};
	next if $ours{$p->{comm}};
	my $d = $p->{cpu} - (($ps0->{$pid} && $ps0->{$pid}{comm} eq $p->{comm}) ? $ps0->{$pid}{cpu} : 0);
	push @busy, { pid => $pid, comm => $p->{comm}, cpu_s => $d } if $d > 0;
}
@busy = sort { $b->{cpu_s} <=> $a->{cpu_s} } @busy;
splice(@busy, 8) if @busy > 8;
$load{others} = \@busy;
my $dur = $meta{duration_s} || 0;
sub over { my ($k, $lim) = @_; return defined $load{$k} && $load{$k} > $lim; }
my $loaded = over('other_cpu_pct_median', 5) || over('other_cpu_pct_max', 20) ||
    over('steal_pct_median', 5) || over('steal_pct_max', 20);

# ------------------------------------------------------------ markdown

sub f {
	my ($v, $d) = @_;
	return '–' unless defined $v;
	$d //= (abs($v) >= 100 ? 0 : abs($v) >= 10 ? 1 : 2);
	return sprintf("%.${d}f", $v);
}
sub cell {
	my ($case, $sub, $term, $k, $d) = @_;
	my $s = stat_of($case, $sub, $term, $k) or return '–';
	return f($s->{median}, $d) . ' (' . f($s->{min}, $d) . '–' . f($s->{max}, $d) . ')';
}
sub okcount {
	my ($case, $sub, $term) = @_;
	my $g = $groups{$case}{$sub}{$term} or return '0/0';
	return "$g->{n_ok}/$g->{n}";
}

my $md = '';
sub p { $md .= join('', @_) . "\n"; }

p("# mxgate benchmark: latest results");
p();
p("Written by `make bench` (bench/run.sh, bench/report.pl) on $meta{started}; ",
    "$meta{rounds} rounds, interleaved, all peers in every round. ",
    "Medians over the rounds that ran cleanly, with the min–max in brackets. ",
    "See bench/README.md for what each case measures and how to read the ratios.");
p();
if ($loaded) {
	p("> **", (over('other_cpu_pct_median', 5) || over('other_cpu_pct_max', 20) ?
	    "Shared, loaded machine." : "Shared machine: CPU stolen by the hypervisor."),
	    "** During the measurement windows, processes outside ",
	    "the benchmark used a median ", f($load{other_cpu_pct_median}, 0), "% (at worst ",
	    f($load{other_cpu_pct_max}, 0), "%) of the machine's CPU, and the hypervisor stole a ",
	    "median ", f($load{steal_pct_median}, 0), "% (at worst ", f($load{steal_pct_max}, 0),
	    "%) from this virtual machine (see \"Load during the run\"). Rates and latencies ",
	    "are indicative only; the CPU-per-unit figures, which count only the terminator's ",
	    "own CPU time, are the more trustworthy, but they too rise when caches and ",
	    "cores are shared.");
	p();
}
p("## Machine and peers");
p();
p("| | |");
p("|---|---|");
p("| CPU | $meta{cpu}, $meta{cores} cores, $meta{mem_mib} MiB |");
p("| OS | $meta{os}, kernel $meta{kernel} |");
(my $mxv = $meta{mxgate} // '') =~ s/;\s*$//;
$mxv =~ s/;/, /g;
p("| mxgate | $mxv; `workers $meta{workers}`; built from ", ($meta{mxgate_tree} // '?'), " |");
p("| stunnel | $meta{stunnel}; one thread per connection (its only model) |");
p("| HAProxy | $meta{haproxy}; `nbthread $meta{workers}` |");
p("| load tools | bench/tools (wolfSSL as above); TLS 1.3, TLS_AES_128_GCM_SHA256, P-256 key share only, no resumption |");
p("| load average | start $meta{load_start}, end ", ($meta{load_end} // '?'), " |");
p("| duration | $dur s for the measurements |");
p();

p("## a. Inbound implicit-TLS bulk ($meta{bulk}, one connection, into a plain sink)");
p();
p("| terminator | MiB/s | terminator CPU-s per GiB | runs ok |");
p("|---|---|---|---|");
for my $t (qw(mxgate stunnel haproxy)) {
	p("| $t | ", cell('a', '', $t, 'mibps'), " | ", cell('a', '', $t, 'cpu_s_per_gib'),
	    " | ", okcount('a', '', $t), " |");
}
p();

p("## b. Full TLS 1.3 handshakes (no resumption)");
p();
p("Each connection: TCP connect, full handshake, the backend's greeting line through the ",
    "terminator, close_notify. $meta{hs_secs} s per measurement.");
p();
p("| key | concurrency | terminator | handshakes/s | CPU µs per handshake | p50 ms | p99 ms | runs ok |");
p("|---|---|---|---|---|---|---|---|");
for my $sub (sort keys %{$subs{b} || {}}) {
	my ($k, $c) = split m{/}, $sub;
	for my $t (qw(mxgate stunnel haproxy)) {
		p("| $k | $c | $t | ", cell('b', $sub, $t, 'rate', 0), " | ",
		    cell('b', $sub, $t, 'cpu_us_per_hs', 0), " | ", cell('b', $sub, $t, 'p50_ms'),
		    " | ", cell('b', $sub, $t, 'p99_ms'), " | ", okcount('b', $sub, $t), " |");
	}
}
p();

p("## c. $meta{idle_n} idle established TLS connections");
p();
p("Memory growth of the terminator between before and after the connections are opened ",
    "(each also holds a backend connection), divided by the number established.");
p();
p("| terminator | RSS KiB per connection | PSS KiB per connection | threads while holding | runs ok |");
p("|---|---|---|---|---|");
for my $t (qw(mxgate stunnel haproxy)) {
	p("| $t | ", cell('c', '', $t, 'rss_kib_per_conn', 1), " | ",
	    cell('c', '', $t, 'pss_kib_per_conn', 1), " | ", cell('c', '', $t, 'threads', 0),
	    " | ", okcount('c', '', $t), " |");
}
p();

p("## d. Outbound: plaintext SMTP in, STARTTLS with verification out (10 KiB messages)");
p();
p("One message per session (connect, EHLO, MAIL, RCPT, DATA, body, QUIT), ",
    "$meta{smtp_secs} s per measurement. The remote MX (smtp_sink) issues session tickets. ",
    "`direct` is the load client talking to the MX itself in plaintext: ",
    "the added latency is a peer's latency minus direct's in the same round.");
p();
p("| concurrency | relay | messages/s | CPU ms per message | p50 ms | p99 ms | added p50 ms | added p99 ms | upstream TLS resumed % | runs ok |");
p("|---|---|---|---|---|---|---|---|---|---|");
for my $sub (sort { $a <=> $b } keys %{$subs{d} || {}}) {
	for my $t (qw(mxgate stunnel direct)) {
		p("| $sub | $t | ", cell('d', $sub, $t, 'rate', 0), " | ",
		    cell('d', $sub, $t, 'cpu_ms_per_msg'), " | ", cell('d', $sub, $t, 'p50_ms'),
		    " | ", cell('d', $sub, $t, 'p99_ms'), " | ", cell('d', $sub, $t, 'added_p50_ms'),
		    " | ", cell('d', $sub, $t, 'added_p99_ms'), " | ",
		    cell('d', $sub, $t, 'resumed_pct', 0), " | ", okcount('d', $sub, $t), " |");
	}
}
p();

p("## e. Plain-to-plain outbound relay (100 MiB message, $meta{relay_msgs} times, policy `may`, MX without STARTTLS)");
p();
p("The same message sent as DATA (the relay must read every byte to find the end of data) ",
    "and as one `BDAT ... LAST` chunk (its length is known: mxgate splices it unseen), ",
    "to an MX offering CHUNKING; `splice_relay` is the bare splice relay carrying the same SMTP. ",
    "The relay's CPU is the headline. `relay + MX` adds the MX's (smtp_sink's) CPU in the same ",
    "window: on loopback the MX's receive work runs in whichever of the two reaches it first, ",
    "so the relay's share moves from run to run much more than the sum does.");
p();
p("| body | relay | CPU-s per GiB | relay + MX CPU-s per GiB | MiB/s | runs ok |");
p("|---|---|---|---|---|---|");
for my $t (qw(splice_relay mxgate_splice mxgate_copy splice_relay_bdat mxgate_bdat mxgate_bdat_copy)) {
	p("| ", ($t =~ /bdat/ ? 'BDAT' : 'DATA'), " | $t | ", cell('e', '', $t, 'cpu_s_per_gib'),
	    " | ", cell('e', '', $t, 'pair_cpu_s_per_gib'),
	    " | ", cell('e', '', $t, 'mibps', 0), " | ", okcount('e', '', $t), " |");
}
p();

p("## Ratios (medians; mxgate over the peer)");
p();
p("Below 1 is better for CPU, memory and latency; above 1 is better for rates. ",
    "Targets are issue 4's.");
p();
p("| case | what | over | ratio | target | met |");
p("|---|---|---|---|---|---|");
for my $x (@ratios) {
	my $what = $x->{label} . ($x->{sub} ne '' ? " ($x->{sub})" : '');
	my $tg = defined $x->{target} ? ($x->{dir} eq 'le' ? '≤ ' : '≥ ') . $x->{target} : '';
	my $met = !defined $x->{target} ? '' : !defined $x->{met} ? '?' : $x->{met} ? 'yes' : 'no';
	my $num = $x->{num} eq 'mxgate' ? '' : "$x->{num} ";
	p("| $x->{case} | $num$what | $x->{den} | ", f($x->{ratio}, 2), " | $tg | $met |");
}
p();

# Targets this run missed, each with the hand-written analysis of why
# (the section of bench/results/gaps.md headed by the case's letter) and
# the profiles bench/profile.sh writes.
my @missed = grep { defined $_->{met} && !$_->{met} } @ratios;
if (@missed) {
	my %analysis;
	my $gaps = dirname(abs_path($0)) . '/results/gaps.md';
	if (open(my $gf, '<', $gaps)) {
		my $cur;
		while (my $l = <$gf>) {
			if ($l =~ /^## ([a-e])\. /) {
				$cur = $1;
			} elsif ($l =~ /^## /) {
				$cur = undef;
			}
			$analysis{$cur} .= $l if defined $cur;
		}
		close $gf;
	}
	p("## Targets not met, and why");
	p();
	my %seen;
	for my $x (@missed) {
		my $what = $x->{label} . ($x->{sub} ne '' ? " ($x->{sub})" : '');
		my $num = $x->{num} eq 'mxgate' ? '' : "$x->{num} ";
		p("- $x->{case}: $num$what over $x->{den}: ", f($x->{ratio}, 2), ", target ",
		    ($x->{dir} eq 'le' ? '≤ ' : '≥ '), $x->{target}, ".");
	}
	p();
	for my $x (@missed) {
		next if $seen{$x->{case}}++;
		if (defined $analysis{$x->{case}}) {
			my $a = $analysis{$x->{case}};
			$a =~ s/^## /### /mg;
			$a =~ s/\s+\z/\n/;
			$md .= $a;
			p();
		} else {
			p("Case $x->{case}: no analysis written for this miss yet (bench/results/gaps.md).");
			p();
		}
	}
	p("Profiles of where the time goes: bench/results/profile.md (`make bench-profile`).");
	p();
}

# Observations the numbers support on their own.
my @notes;
for my $sub (sort { $a <=> $b } keys %{$subs{d} || {}}) {
	my $m = med('d', $sub, 'mxgate', 'resumed_pct');
	my $st = med('d', $sub, 'stunnel', 'resumed_pct');
	push @notes, sprintf("d (%s sessions): mxgate resumed %s%% of its upstream TLS sessions " .
	    "although the MX issued tickets; stunnel resumed %s%%, so most of its messages " .
	    "cost it no full handshake.", $sub, f($m, 0), f($st, 0))
	    if defined $m && defined $st && $m < 1 && $st > 10;
}
{
	my $on = med('e', '', 'mxgate_splice', 'cpu_s_per_gib');
	my $off = med('e', '', 'mxgate_copy', 'cpu_s_per_gib');
	push @notes, sprintf("e: mxgate spent %s CPU-s per GiB on DATA with `splice yes` and %s with " .
	    "`splice no`: the setting made no measurable difference to relaying DATA.",
	    f($on), f($off))
	    if defined $on && defined $off && $off > 0 && abs($on / $off - 1) < 0.1;
	my $bare = med('e', '', 'splice_relay', 'cpu_s_per_gib');
	push @notes, sprintf("e: as DATA, mxgate spent %s CPU-s per GiB with `splice yes`, %.2fx the " .
	    "bare splice relay's %s: it reads every byte once to find the end of data, which costs " .
	    "about as much as moving it (bench/results/gaps.md, e).", f($on), $on / $bare, f($bare))
	    if defined $on && defined $bare && $bare > 0;
	$on = med('e', '', 'mxgate_bdat', 'cpu_s_per_gib');
	$off = med('e', '', 'mxgate_bdat_copy', 'cpu_s_per_gib');
	push @notes, sprintf("e: on BDAT, mxgate spent %s CPU-s per GiB with `splice yes` and %s " .
	    "with `splice no` (%.1fx).", f($on), f($off), $off / $on)
	    if defined $on && defined $off && $on > 0;
}
if (@notes) {
	p("## Observations");
	p();
	p("- $_") for @notes;
	p();
}

p("## Where the CPU went");
p();
p("Share of the whole machine (all cores) during the measurement windows, medians over ",
    "rounds and sub-cases. `irq` is interrupt time, mostly the network stack's receive work ",
    "for all the processes of the benchmark, charged to no process. `steal` is time the ",
    "hypervisor gave to other virtual machines. `other` is tasks not started by the ",
    "benchmark (kernel threads included). `idle` left over means the run was bound by ",
    "latency or by one busy thread, not by CPU.");
p();
p("| case | terminator | terminator % | load client % | sink % | harness % | irq % | steal % | other % | idle % |");
p("|---|---|---|---|---|---|---|---|---|---|");
for my $case (qw(a b c d e)) {
	my %terms;
	for my $sub (keys %{$groups{$case} || {}}) {
		$terms{$_} = 1 for keys %{$groups{$case}{$sub}};
	}
	for my $term (sort keys %terms) {
		my %v;
		for my $sub (keys %{$groups{$case}}) {
			my $g = $groups{$case}{$sub}{$term} or next;
			for my $k (qw(term_pct client_pct sink_pct harness_pct irq_pct steal_pct other_cpu_pct idle_pct)) {
				push @{$v{$k}}, @{$g->{values}{$k} || []};
			}
		}
		p("| $case | $term | ", join(' | ', map { f(median(@{$v{$_} || []}), 0) }
		    qw(term_pct client_pct sink_pct harness_pct irq_pct steal_pct other_cpu_pct idle_pct)), " |");
	}
}
p();

p("## Load during the run");
p();
p("CPU used by tasks other than the terminator, the sink, the load client and the ",
    "harness during the measurement windows, as a share of the whole machine: median ",
    f($load{other_cpu_pct_median}, 1), "%, worst ", f($load{other_cpu_pct_max}, 1), "%. ",
    "Stolen by the hypervisor: median ", f($load{steal_pct_median}, 1), "%, worst ",
    f($load{steal_pct_max}, 1), "%. ",
    "Load average at the start ", $meta{load_start}, ", at the end ", ($meta{load_end} // '?'), ".");
if (@busy) {
	p();
	p("Long-lived processes outside the benchmark that used CPU while it ran (seconds; ",
	    "short-lived ones, such as a test suite's, show only in the `other` share):");
	p();
	p("| pid | command | CPU s |");
	p("|---|---|---|");
	p("| $_->{pid} | $_->{comm} | $_->{cpu_s} |") for @busy;
}
p();

p("## Failures and anomalies");
p();
if (!@failures && !@anomalies) {
	p("None: every measurement ran to the end, every byte and message arrived intact, ",
	    "and no terminator logged an error or crashed.");
} else {
	if (!@failures) {
		p("No measurement failed; every byte and message arrived intact.");
	} elsif (!grep { $_->{hdr}{term} =~ /^mxgate/ } @failures) {
		p("None of mxgate's measurements failed.");
	}
	p();
	for my $x ((map { +{ rec => $_, what => join('; ', @{$_->{why}}), void => 1 } } @failures), @anomalies) {
		my $r = $x->{rec};
		my $h = $r->{hdr};
		my $desc = join(' ', map { "$_=$h->{$_}" } grep { $_ ne 'round' && $_ ne 'case' && $_ ne 'term' } sort keys %$h);
		p("- ", ($x->{void} ? 'failed' : 'anomaly'), ": round $h->{round}, case $h->{case}, ",
		    "**$h->{term}** ($desc): $x->{what}");
		my $log = $r->{term} ? $r->{term}{log} : undef;
		if (defined $log && -s "$work/logs/$log") {
			open(my $lf, '<', "$work/logs/$log");
			my @l = <$lf>;
			close $lf;
			my @tail = grep { !/level=warn event=config/ } @l;
			@tail = @tail[-8 .. -1] if @tail > 8;
			if (@tail) {
				p("  last lines of its log (build/bench/work/logs/$log):");
				p("  ```");
				p("  $_") for map { chomp; $_ } @tail;
				p("  ```");
			}
		}
	}
}
p();
open(my $of, '>', "$out/latest.md") or die "$out/latest.md: $!\n";
print $of $md;
close $of;

# ------------------------------------------------------------ json

sub js {
	my ($v) = @_;
	return 'null' unless defined $v;
	if (ref $v eq 'HASH') {
		return '{' . join(',', map { js("$_") . ':' . js($v->{$_}) } sort keys %$v) . '}';
	}
	if (ref $v eq 'ARRAY') {
		return '[' . join(',', map { js($_) } @$v) . ']';
	}
	if ($v =~ /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$/) {
		return $v =~ /\./ ? sprintf('%.6g', $v) : $v;
	}
	(my $s = $v) =~ s/(["\\])/\\$1/g;
	$s =~ s/\n/\\n/g;
	$s =~ s/([\x00-\x1f])/sprintf('\\u%04x', ord $1)/ge;
	return "\"$s\"";
}

my %jgroups;
for my $case (keys %groups) {
	for my $sub (keys %{$groups{$case}}) {
		for my $term (keys %{$groups{$case}{$sub}}) {
			my $g = $groups{$case}{$sub}{$term};
			push @{$jgroups{$case}}, { sub => $sub, term => $term, runs => $g->{n},
			    runs_ok => $g->{n_ok}, metrics => $g->{stats} || {} };
		}
	}
	@{$jgroups{$case}} = sort { $a->{sub} cmp $b->{sub} || $a->{term} cmp $b->{term} } @{$jgroups{$case}};
}
my @jrecs = map {
	my $r = $recs{$_};
	+{ %{$r->{hdr} || {}}, ok => $r->{ok}, why => $r->{why}, metrics => $r->{metrics},
	  client => $r->{client}, sink => $r->{sink}, terminator => $r->{term}, window => $r->{win},
	  memory => $r->{mem} }
} @order;
my %json = (meta => \%meta, loaded_machine => $loaded ? 'yes' : 'no', load => \%load,
    groups => \%jgroups, ratios => \@ratios, records => \@jrecs,
    failures => [map { +{ round => $_->{hdr}{round}, case => $_->{hdr}{case},
    term => $_->{hdr}{term}, why => $_->{why} } } @failures],
    anomalies => [map { +{ round => $_->{rec}{hdr}{round}, case => $_->{rec}{hdr}{case},
    term => $_->{rec}{hdr}{term}, what => $_->{what} } } @anomalies]);
open(my $jf, '>', "$out/latest.json") or die "$out/latest.json: $!\n";
print $jf js(\%json), "\n";
close $jf;
print "wrote $out/latest.md and $out/latest.json\n";
