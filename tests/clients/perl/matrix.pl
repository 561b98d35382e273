#!/usr/bin/perl
# The client-matrix scenario (../README.md) through Perl DBI.
# Usage: perl matrix.pl DRIVER HOST PORT USER PASSWORD DATABASE TAG
# DRIVER: MariaDB | mysql (DBD::MariaDB, DBD::mysql; parameters written into the text), or
# either with `:server_prepare` (server-side prepared statements).
use strict;
use warnings;
use DBI;

my ($mode, $host, $port, $user, $password, $database, $tag) = @ARGV;
my ($driver, $server_prepare) = split /:/, $mode;
my $dsn = "DBI:$driver:database=$database;host=$host;port=$port";
$dsn .= ';' . lc($driver) . '_server_prepare=1' if $server_prepare;
my $dbh = DBI->connect($dsn,
    $user, $password, { RaiseError => 1, PrintError => 0, AutoCommit => 1 });
print "connected\n";

sub cell { defined $_[0] ? $_[0] : 'NULL' }
sub show {
    my ($label, $rows) = @_;
    print "$label: (none)\n" unless @$rows;
    print "$label: " . join('|', map { cell($_) } @$_) . "\n" for @$rows;
}

show('point', $dbh->selectall_arrayref('SELECT order_id, user_id, status, amount FROM t_order WHERE order_id = 1037'));
show('scatter', $dbh->selectall_arrayref('SELECT status, COUNT(*), SUM(amount) FROM t_order WHERE user_id < 100 GROUP BY status ORDER BY status'));
show('param', $dbh->selectall_arrayref('SELECT order_id, amount FROM t_order WHERE user_id = ? ORDER BY order_id', undef, 8));

my $affected = $dbh->do("INSERT INTO t_order (user_id, status, amount) VALUES (?, 'new', 2.50)", undef, $tag);
print "insert affected: $affected\n";
my $key = $dbh->last_insert_id(undef, undef, 't_order', 'order_id');
print 'generated key: ' . ($key && $key > 0 ? 'yes' : 'no') . "\n";
show('found by key', $dbh->selectall_arrayref('SELECT user_id, status, amount FROM t_order WHERE order_id = ?', undef, $key));

$dbh->begin_work;
$dbh->do("INSERT INTO t_order (user_id, status, amount) VALUES (?, 'tx', 1.00)", undef, $tag);
$dbh->rollback;
show('after rollback', $dbh->selectall_arrayref('SELECT COUNT(*) FROM t_order WHERE user_id = ?', undef, $tag));
$dbh->begin_work;
my $sth = $dbh->prepare("INSERT INTO t_order (user_id, status, amount) VALUES (?, ?, ?)");
$sth->execute($tag, 'tx', $_) for ('1.00', '4.00');
$dbh->commit;
show('after commit', $dbh->selectall_arrayref('SELECT COUNT(*), SUM(amount) FROM t_order WHERE user_id = ?', undef, $tag));

eval { $dbh->do('INSERT INTO t_order (order_id, user_id) VALUES (1037, ?)', undef, $tag); 1 }
    ? print "duplicate: accepted\n"
    : print 'duplicate: error ' . $dbh->err . "\n";
show('null param', $dbh->selectall_arrayref("SELECT COUNT(*) FROM t_order WHERE user_id = ? AND status = COALESCE(?, 'tx')", undef, $tag, undef));

# DBI's metadata calls: table_info and column_info of the logical schema.
my $tables = $dbh->table_info(undef, $database, '%', 'TABLE')->fetchall_arrayref({ TABLE_NAME => 1, TABLE_SCHEM => 1, TABLE_CAT => 1 });
print 'table_info: ' . join(',', map { cell($_->{TABLE_CAT}) . '.' . cell($_->{TABLE_SCHEM}) . '.' . $_->{TABLE_NAME} } sort { $a->{TABLE_NAME} cmp $b->{TABLE_NAME} } @$tables) . "\n";
my $columns = $dbh->column_info(undef, $database, 't_order', '%')->fetchall_arrayref({ COLUMN_NAME => 1, TYPE_NAME => 1 });
print 'column_info: ' . join(',', map { "$_->{COLUMN_NAME}/$_->{TYPE_NAME}" } @$columns) . "\n";
my @pk = $dbh->primary_key(undef, $database, 't_order');
print 'primary_key: ' . join(',', @pk) . "\n";
my $names = $dbh->prepare('SELECT order_id, status, amount FROM t_order WHERE order_id = 1037');
$names->execute;
print 'NAME: ' . join(',', @{ $names->{NAME} }) . "\n";
$names->finish;

$affected = $dbh->do('DELETE FROM t_order WHERE user_id = ?', undef, $tag);
print "deleted: $affected\n";
$dbh->disconnect;
print "done\n";
