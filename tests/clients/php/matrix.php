<?php
// The client-matrix scenario (../README.md) through PHP.
// Usage: php matrix.php MODE HOST PORT USER PASSWORD DATABASE TAG
// MODE: pdo-emulated | pdo-native (server-side prepared statements) | mysqli
[, $mode, $host, $port, $user, $password, $database, $tag] = $argv;
$tag = (int) $tag;

function cell($v) { return $v === null ? 'NULL' : (string) $v; }
function show($label, $rows) {
    if (!$rows) { echo "$label: (none)\n"; }
    foreach ($rows as $row) { echo "$label: " . implode('|', array_map('cell', array_values($row))) . "\n"; }
}

if ($mode === 'mysqli') {
    mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
    $db = new mysqli($host, $user, $password, $database, (int) $port);
    echo "connected\n";
    $q = function ($sql, $types = '', ...$params) use ($db) {
        $stmt = $db->prepare($sql);
        if ($types !== '') { $stmt->bind_param($types, ...$params); }
        $stmt->execute();
        $result = $stmt->get_result();
        $rows = $result ? $result->fetch_all(MYSQLI_NUM) : null;
        $info = [$stmt->affected_rows, $stmt->insert_id];
        $stmt->close();
        return [$rows, $info];
    };
    show('point', $db->query('SELECT order_id, user_id, status, amount FROM t_order WHERE order_id = 1037')->fetch_all(MYSQLI_NUM));
    show('scatter', $db->query('SELECT status, COUNT(*), SUM(amount) FROM t_order WHERE user_id < 100 GROUP BY status ORDER BY status')->fetch_all(MYSQLI_NUM));
    show('param', $q('SELECT order_id, amount FROM t_order WHERE user_id = ? ORDER BY order_id', 'i', 8)[0]);
    [, [$affected, $key]] = $q("INSERT INTO t_order (user_id, status, amount) VALUES (?, 'new', 2.50)", 'i', $tag);
    echo "insert affected: $affected\n";
    echo 'generated key: ' . ($key > 0 ? 'yes' : 'no') . "\n";
    show('found by key', $q('SELECT user_id, status, amount FROM t_order WHERE order_id = ?', 's', (string) $key)[0]);
    $db->begin_transaction();
    $q("INSERT INTO t_order (user_id, status, amount) VALUES (?, 'tx', 1.00)", 'i', $tag);
    $db->rollback();
    show('after rollback', $q('SELECT COUNT(*) FROM t_order WHERE user_id = ?', 'i', $tag)[0]);
    $db->begin_transaction();
    $q("INSERT INTO t_order (user_id, status, amount) VALUES (?, 'tx', 1.00)", 'i', $tag);
    $db->commit();
    show('after commit', $q('SELECT COUNT(*) FROM t_order WHERE user_id = ?', 'i', $tag)[0]);
    try {
        $q('INSERT INTO t_order (order_id, user_id) VALUES (1037, ?)', 'i', $tag);
        echo "duplicate: accepted\n";
    } catch (mysqli_sql_exception $e) {
        echo 'duplicate: error ' . $e->getCode() . "\n";
    }
    $null = null;
    show('null param', $q("SELECT COUNT(*) FROM t_order WHERE user_id = ? AND status = COALESCE(?, 'tx')", 'is', $tag, $null)[0]);
    $fields = $db->query('SELECT order_id, status, amount FROM t_order WHERE order_id = 1037')->fetch_fields();
    echo 'fields: ' . implode(',', array_map(fn($f) => "$f->name/$f->table/$f->db/$f->type", $fields)) . "\n";
    [, [$affected]] = $q('DELETE FROM t_order WHERE user_id = ?', 'i', $tag);
    echo "deleted: $affected\n";
    $db->close();
    echo "done\n";
    exit(0);
}

$db = new PDO("mysql:host=$host;port=$port;dbname=$database", $user, $password, [
    PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
    PDO::ATTR_EMULATE_PREPARES => $mode === 'pdo-emulated',
]);
echo "connected\n";
$run = function ($sql, $params = []) use ($db) {
    $stmt = $db->prepare($sql);
    $stmt->execute($params);
    return $stmt;
};
show('point', $run('SELECT order_id, user_id, status, amount FROM t_order WHERE order_id = 1037')->fetchAll(PDO::FETCH_NUM));
show('scatter', $run('SELECT status, COUNT(*), SUM(amount) FROM t_order WHERE user_id < 100 GROUP BY status ORDER BY status')->fetchAll(PDO::FETCH_NUM));
show('param', $run('SELECT order_id, amount FROM t_order WHERE user_id = ? ORDER BY order_id', [8])->fetchAll(PDO::FETCH_NUM));
$stmt = $run("INSERT INTO t_order (user_id, status, amount) VALUES (?, 'new', 2.50)", [$tag]);
echo 'insert rowCount: ' . $stmt->rowCount() . "\n";
$key = $db->lastInsertId();
echo 'generated key: ' . ($key > 0 ? 'yes' : 'no') . "\n";
show('found by key', $run('SELECT user_id, status, amount FROM t_order WHERE order_id = ?', [$key])->fetchAll(PDO::FETCH_NUM));
$db->beginTransaction();
$run("INSERT INTO t_order (user_id, status, amount) VALUES (?, 'tx', 1.00)", [$tag]);
$db->rollBack();
show('after rollback', $run('SELECT COUNT(*) FROM t_order WHERE user_id = ?', [$tag])->fetchAll(PDO::FETCH_NUM));
$db->beginTransaction();
$run("INSERT INTO t_order (user_id, status, amount) VALUES (?, 'tx', 1.00)", [$tag]);
$db->commit();
show('after commit', $run('SELECT COUNT(*) FROM t_order WHERE user_id = ?', [$tag])->fetchAll(PDO::FETCH_NUM));
try {
    $run('INSERT INTO t_order (order_id, user_id) VALUES (1037, ?)', [$tag]);
    echo "duplicate: accepted\n";
} catch (PDOException $e) {
    echo 'duplicate: error ' . $e->errorInfo[1] . "\n";
}
show('null param', $run("SELECT COUNT(*) FROM t_order WHERE user_id = ? AND status = COALESCE(?, 'tx')", [$tag, null])->fetchAll(PDO::FETCH_NUM));
// Named parameters and typed binds.
$stmt = $db->prepare('SELECT order_id, amount FROM t_order WHERE order_id = :id OR user_id = :user ORDER BY order_id');
$stmt->bindValue(':id', 1037, PDO::PARAM_INT);
$stmt->bindValue(':user', 15, PDO::PARAM_INT);
$stmt->execute();
show('named', $stmt->fetchAll(PDO::FETCH_NUM));
// The metadata PDO exposes, and what DATABASE() says.
$stmt = $run('SELECT order_id, status, amount FROM t_order WHERE order_id = 1037');
$meta = [];
for ($i = 0; $i < $stmt->columnCount(); $i++) {
    $m = $stmt->getColumnMeta($i);
    $meta[] = "{$m['name']}/{$m['table']}/{$m['native_type']}";
}
echo 'columns: ' . implode(',', $meta) . "\n";
show('database', $run('SELECT DATABASE()')->fetchAll(PDO::FETCH_NUM));
show('tables', $run('SHOW TABLES')->fetchAll(PDO::FETCH_NUM));
$stmt = $run('DELETE FROM t_order WHERE user_id = ?', [$tag]);
echo 'deleted: ' . $stmt->rowCount() . "\n";
echo "done\n";
