// The client-matrix scenario (../README.md) through Go's database/sql and
// go-sql-driver/mysql (Debian's golang-github-go-sql-driver-mysql-dev, built in GOPATH mode).
//
// Usage: matrix MODE HOST PORT USER PASSWORD DATABASE TAG
// MODE: default (server-side prepared statements for parameters) | interpolate
// (interpolateParams=true: parameters written into the text).
package main

import (
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
)

var db *sql.DB

func fail(step string, err error) {
	fmt.Printf("%s: failed: %v\n", step, err)
	os.Exit(1)
}

func show(label string, rows *sql.Rows, err error) {
	if err != nil {
		fail(label, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	n := 0
	for rows.Next() {
		values := make([]sql.RawBytes, len(cols))
		ptrs := make([]interface{}, len(cols))
		for i := range values {
			ptrs[i] = &values[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			fail(label, err)
		}
		cells := make([]string, len(cols))
		for i, v := range values {
			if v == nil {
				cells[i] = "NULL"
			} else {
				cells[i] = string(v)
			}
		}
		fmt.Printf("%s: %s\n", label, strings.Join(cells, "|"))
		n++
	}
	if err := rows.Err(); err != nil {
		fail(label, err)
	}
	if n == 0 {
		fmt.Printf("%s: (none)\n", label)
	}
}

func main() {
	mode, host, port, user, password, database := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5], os.Args[6]
	tag, _ := strconv.ParseInt(os.Args[7], 10, 64)
	dsn := fmt.Sprintf("%s:%s@tcp(%s:%s)/%s", user, password, host, port, database)
	if mode == "interpolate" {
		dsn += "?interpolateParams=true"
	}
	var err error
	if db, err = sql.Open("mysql", dsn); err != nil {
		fail("open", err)
	}
	if err := db.Ping(); err != nil {
		fail("connect", err)
	}
	fmt.Println("connected")

	rows, err := db.Query("SELECT order_id, user_id, status, amount FROM t_order WHERE order_id = 1037")
	show("point", rows, err)
	rows, err = db.Query("SELECT status, COUNT(*), SUM(amount) FROM t_order WHERE user_id < 100 GROUP BY status ORDER BY status")
	show("scatter", rows, err)
	rows, err = db.Query("SELECT order_id, amount FROM t_order WHERE user_id = ? ORDER BY order_id", 8)
	show("param", rows, err)

	res, err := db.Exec("INSERT INTO t_order (user_id, status, amount) VALUES (?, 'new', 2.50)", tag)
	if err != nil {
		fail("insert", err)
	}
	affected, _ := res.RowsAffected()
	key, _ := res.LastInsertId()
	fmt.Printf("insert affected: %d\n", affected)
	fmt.Printf("generated key: %v\n", map[bool]string{true: "yes", false: "no"}[key > 0])
	rows, err = db.Query("SELECT user_id, status, amount FROM t_order WHERE order_id = ?", key)
	show("found by key", rows, err)

	tx, err := db.Begin()
	if err != nil {
		fail("begin", err)
	}
	if _, err := tx.Exec("INSERT INTO t_order (user_id, status, amount) VALUES (?, 'tx', 1.00)", tag); err != nil {
		fail("insert in tx", err)
	}
	if err := tx.Rollback(); err != nil {
		fail("rollback", err)
	}
	rows, err = db.Query("SELECT COUNT(*) FROM t_order WHERE user_id = ?", tag)
	show("after rollback", rows, err)
	tx, err = db.Begin()
	if err != nil {
		fail("begin", err)
	}
	// A statement prepared inside the transaction, run twice.
	stmt, err := tx.Prepare("INSERT INTO t_order (user_id, status, amount) VALUES (?, ?, ?)")
	if err != nil {
		fail("prepare in tx", err)
	}
	for _, amount := range []string{"1.00", "4.00"} {
		if _, err := stmt.Exec(tag, "tx", amount); err != nil {
			fail("insert in tx", err)
		}
	}
	stmt.Close()
	if err := tx.Commit(); err != nil {
		fail("commit", err)
	}
	rows, err = db.Query("SELECT COUNT(*), SUM(amount) FROM t_order WHERE user_id = ?", tag)
	show("after commit", rows, err)

	_, err = db.Exec("INSERT INTO t_order (order_id, user_id) VALUES (1037, ?)", tag)
	if me, ok := err.(*mysql.MySQLError); ok {
		fmt.Printf("duplicate: error %d\n", me.Number)
	} else {
		fmt.Printf("duplicate: %v\n", err)
	}
	rows, err = db.Query("SELECT COUNT(*) FROM t_order WHERE user_id = ? AND status = COALESCE(?, 'tx')", tag, nil)
	show("null param", rows, err)

	// Typed scans: integers, decimals as strings, a NULL into sql.NullString.
	var id int64
	var amount string
	var missing sql.NullString
	err = db.QueryRow("SELECT order_id, amount, NULL FROM t_order WHERE order_id = ?", 1037).Scan(&id, &amount, &missing)
	if err != nil {
		fail("typed scan", err)
	}
	fmt.Printf("typed: %d|%s|%v\n", id, amount, missing.Valid)

	res, err = db.Exec("DELETE FROM t_order WHERE user_id = ?", tag)
	if err != nil {
		fail("delete", err)
	}
	affected, _ = res.RowsAffected()
	fmt.Printf("deleted: %d\n", affected)
	db.Close()
	fmt.Println("done")
}
