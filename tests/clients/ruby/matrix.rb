# The client-matrix scenario (../README.md) through Ruby's mysql2.
# Usage: ruby matrix.rb MODE HOST PORT USER PASSWORD DATABASE TAG
# MODE: query (parameters escaped into the text) | prepare (server-side prepared statements)
require 'mysql2'
require 'bigdecimal'

mode, host, port, user, password, database, tag = ARGV
tag = Integer(tag)
db = Mysql2::Client.new(host: host, port: Integer(port), username: user, password: password,
                        database: database)
puts 'connected'

def cell(v)
  case v
  when nil then 'NULL'
  when BigDecimal then v.to_s('F')
  else v.to_s
  end
end

def show(label, rows)
  rows = rows.to_a
  puts "#{label}: (none)" if rows.empty?
  rows.each { |row| puts "#{label}: " + row.map { |v| cell(v) }.join('|') }
end

run = lambda do |sql, *params|
  if mode == 'prepare'
    stmt = db.prepare(sql)
    result = stmt.execute(*params, as: :array)
    [result, stmt.affected_rows, stmt.last_id]
  else
    text = sql.dup
    params.each do |p|
      value = case p
              when nil then 'NULL'
              when Integer then p.to_s
              else "'#{db.escape(p.to_s)}'"
              end
      text.sub!('?', value)
    end
    result = db.query(text, as: :array)
    [result, db.affected_rows, db.last_id]
  end
end

show('point', run.call('SELECT order_id, user_id, status, amount FROM t_order WHERE order_id = 1037')[0])
show('scatter', run.call('SELECT status, COUNT(*), SUM(amount) FROM t_order WHERE user_id < 100 GROUP BY status ORDER BY status')[0])
show('param', run.call('SELECT order_id, amount FROM t_order WHERE user_id = ? ORDER BY order_id', 8)[0])
_, affected, key = run.call("INSERT INTO t_order (user_id, status, amount) VALUES (?, 'new', 2.50)", tag)
puts "insert affected: #{affected}"
puts "generated key: #{key.positive? ? 'yes' : 'no'}"
show('found by key', run.call('SELECT user_id, status, amount FROM t_order WHERE order_id = ?', key)[0])
db.query('BEGIN')
run.call("INSERT INTO t_order (user_id, status, amount) VALUES (?, 'tx', 1.00)", tag)
db.query('ROLLBACK')
show('after rollback', run.call('SELECT COUNT(*) FROM t_order WHERE user_id = ?', tag)[0])
db.query('START TRANSACTION')
run.call("INSERT INTO t_order (user_id, status, amount) VALUES (?, 'tx', 1.00)", tag)
db.query('COMMIT')
show('after commit', run.call('SELECT COUNT(*) FROM t_order WHERE user_id = ?', tag)[0])
begin
  run.call('INSERT INTO t_order (order_id, user_id) VALUES (1037, ?)', tag)
  puts 'duplicate: accepted'
rescue Mysql2::Error => e
  puts "duplicate: error #{e.error_number}"
end
show('null param', run.call("SELECT COUNT(*) FROM t_order WHERE user_id = ? AND status = COALESCE(?, 'tx')", tag, nil)[0])
result = db.query('SELECT order_id, status, amount FROM t_order WHERE order_id = 1037')
puts "fields: #{result.fields.join(',')}"
_, affected, = run.call('DELETE FROM t_order WHERE user_id = ?', tag)
puts "deleted: #{affected}"
db.close
puts 'done'
