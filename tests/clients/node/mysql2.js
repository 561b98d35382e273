// The client-matrix scenario (../README.md) through Node's mysql2.
// Usage: node mysql2.js MODE HOST PORT USER PASSWORD DATABASE TAG
// MODE: query (text protocol) | execute (server-side prepared statements)
'use strict';
const mysql = require('mysql2/promise');

const [mode, host, port, user, password, database, tagText] = process.argv.slice(2);
const tag = Number(tagText);
// Snowflake ids are above 2^53: without these, JavaScript numbers round them (README).
const options = { host, port: Number(port), user, password, database,
  supportBigNumbers: true, bigNumberStrings: true };

function cell(v) {
  if (v === null) return 'NULL';
  if (Buffer.isBuffer(v)) return v.toString();
  return String(v);
}
function show(label, rows) {
  if (rows.length === 0) console.log(`${label}: (none)`);
  for (const row of rows) console.log(`${label}: ` + row.map(cell).join('|'));
}

async function main() {
  const conn = await mysql.createConnection(options);
  console.log('connected');
  const run = (sql, params) => mode === 'execute'
    ? conn.execute({ sql, rowsAsArray: true }, params)
    : conn.query({ sql, rowsAsArray: true }, params);

  let [rows] = await run('SELECT order_id, user_id, status, amount FROM t_order WHERE order_id = 1037');
  show('point', rows);
  [rows] = await run('SELECT status, COUNT(*), SUM(amount) FROM t_order WHERE user_id < 100 GROUP BY status ORDER BY status');
  show('scatter', rows);
  [rows] = await run('SELECT order_id, amount FROM t_order WHERE user_id = ? ORDER BY order_id', [8]);
  show('param', rows);

  const [ok] = await run("INSERT INTO t_order (user_id, status, amount) VALUES (?, 'new', 2.50)", [tag]);
  console.log(`insert affectedRows: ${ok.affectedRows}`);
  const key = ok.insertId;
  console.log(`generated key: ${BigInt(key) > 0n ? 'yes' : 'no'}`);
  [rows] = await run('SELECT user_id, status, amount FROM t_order WHERE order_id = ?', [String(key)]);
  show('found by key', rows);

  await conn.beginTransaction();
  await run("INSERT INTO t_order (user_id, status, amount) VALUES (?, 'tx', 1.00)", [tag]);
  await conn.rollback();
  [rows] = await run('SELECT COUNT(*) FROM t_order WHERE user_id = ?', [tag]);
  show('after rollback', rows);
  await conn.beginTransaction();
  await run("INSERT INTO t_order (user_id, status, amount) VALUES (?, 'tx', 1.00)", [tag]);
  await conn.commit();
  [rows] = await run('SELECT COUNT(*) FROM t_order WHERE user_id = ?', [tag]);
  show('after commit', rows);

  try {
    await run('INSERT INTO t_order (order_id, user_id) VALUES (1037, ?)', [tag]);
    console.log('duplicate: accepted');
  } catch (e) {
    console.log(`duplicate: error ${e.errno}`);
  }
  [rows] = await run("SELECT COUNT(*) FROM t_order WHERE user_id = ? AND status = COALESCE(?, 'tx')", [tag, null]);
  show('null param', rows);

  // A pool: several connections at once, each with its own statement.
  const pool = mysql.createPool({ ...options, connectionLimit: 4 });
  const counts = await Promise.all([8, 15, 22, 29].map(async (u) => {
    const [r] = mode === 'execute'
      ? await pool.execute({ sql: 'SELECT COUNT(*) FROM t_order WHERE user_id = ?', rowsAsArray: true }, [u])
      : await pool.query({ sql: 'SELECT COUNT(*) FROM t_order WHERE user_id = ?', rowsAsArray: true }, [u]);
    return r[0][0];
  }));
  console.log(`pool: ${counts.map(cell).join('|')}`);
  const pooled = await pool.getConnection();
  await pooled.beginTransaction();
  await pooled.query('INSERT INTO t_order (user_id, status, amount) VALUES (?, ?, ?)', [tag, 'pool', 3.5]);
  await pooled.commit();
  pooled.release();
  await pool.end();

  [rows] = await run('SELECT status, COUNT(*), SUM(amount) FROM t_order WHERE user_id = ? GROUP BY status ORDER BY status', [tag]);
  show('by status', rows);
  const [fields] = await conn.query('SELECT order_id, status, amount FROM t_order WHERE order_id = 1037')
    .then(([r, f]) => [f]);
  console.log('fields: ' + fields.map((f) => `${f.name}/${f.table}/${f.db}`).join(','));

  const [deleted] = await run('DELETE FROM t_order WHERE user_id = ?', [tag]);
  console.log(`deleted: ${deleted.affectedRows}`);
  await conn.end();
  console.log('done');
}

main().catch((e) => { console.error(e); process.exit(1); });
