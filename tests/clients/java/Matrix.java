// The client-matrix scenario (../README.md) through JDBC and MariaDB Connector/J (Debian's
// libmariadb-java), run as a single-file program: java -cp mariadb-java-client.jar Matrix.java
//
// Usage: Matrix MODE HOST PORT USER PASSWORD DATABASE TAG
// MODE: default | useServerPrepStmts | rewriteBatchedStatements (the URL option set to true)
import java.sql.*;
import java.util.*;

public class Matrix {
    static String cell(Object v) {
        return v == null ? "NULL" : v.toString();
    }

    static void show(String label, ResultSet rs) throws SQLException {
        int columns = rs.getMetaData().getColumnCount();
        boolean any = false;
        while (rs.next()) {
            List<String> cells = new ArrayList<>();
            for (int i = 1; i <= columns; i++) cells.add(cell(rs.getString(i)));
            System.out.println(label + ": " + String.join("|", cells));
            any = true;
        }
        if (!any) System.out.println(label + ": (none)");
        rs.close();
    }

    static PreparedStatement prepare(Connection c, String sql, Object... params) throws SQLException {
        PreparedStatement ps = c.prepareStatement(sql);
        for (int i = 0; i < params.length; i++) ps.setObject(i + 1, params[i]);
        return ps;
    }

    public static void main(String[] args) throws Exception {
        String mode = args[0], host = args[1], port = args[2], user = args[3], password = args[4], database = args[5];
        long tag = Long.parseLong(args[6]);
        String url = "jdbc:mariadb://" + host + ":" + port + "/" + database;
        if (!mode.equals("default")) url += "?" + mode + "=true";
        try (Connection c = DriverManager.getConnection(url, user, password)) {
            System.out.println("connected");
            Statement st = c.createStatement();
            show("point", st.executeQuery("SELECT order_id, user_id, status, amount FROM t_order WHERE order_id = 1037"));
            show("scatter", st.executeQuery("SELECT status, COUNT(*), SUM(amount) FROM t_order WHERE user_id < 100 GROUP BY status ORDER BY status"));
            show("param", prepare(c, "SELECT order_id, amount FROM t_order WHERE user_id = ? ORDER BY order_id", 8).executeQuery());

            PreparedStatement insert = c.prepareStatement(
                "INSERT INTO t_order (user_id, status, amount) VALUES (?, 'new', 2.50)", Statement.RETURN_GENERATED_KEYS);
            insert.setLong(1, tag);
            System.out.println("insert count: " + insert.executeUpdate());
            ResultSet keys = insert.getGeneratedKeys();
            long key = keys.next() ? keys.getLong(1) : 0;
            System.out.println("generated key: " + (key > 0 ? "yes" : "no"));
            show("found by key", prepare(c, "SELECT user_id, status, amount FROM t_order WHERE order_id = ?", key).executeQuery());

            c.setAutoCommit(false);
            prepare(c, "INSERT INTO t_order (user_id, status, amount) VALUES (?, 'tx', 1.00)", tag).executeUpdate();
            c.rollback();
            show("after rollback", prepare(c, "SELECT COUNT(*) FROM t_order WHERE user_id = ?", tag).executeQuery());
            prepare(c, "INSERT INTO t_order (user_id, status, amount) VALUES (?, 'tx', 1.00)", tag).executeUpdate();
            Savepoint sp = c.setSavepoint("before_second");
            prepare(c, "INSERT INTO t_order (user_id, status, amount) VALUES (?, 'undone', 9.00)", tag).executeUpdate();
            c.rollback(sp);
            c.commit();
            c.setAutoCommit(true);
            show("after commit", prepare(c, "SELECT status, COUNT(*) FROM t_order WHERE user_id = ? GROUP BY status ORDER BY status", tag).executeQuery());

            try {
                prepare(c, "INSERT INTO t_order (order_id, user_id) VALUES (1037, ?)", tag).executeUpdate();
                System.out.println("duplicate: accepted");
            } catch (SQLException e) {
                System.out.println("duplicate: error " + e.getErrorCode() + " " + e.getSQLState());
            }
            PreparedStatement nullParam = c.prepareStatement(
                "SELECT COUNT(*) FROM t_order WHERE user_id = ? AND status = COALESCE(?, 'tx')");
            nullParam.setLong(1, tag);
            nullParam.setNull(2, Types.VARCHAR);
            show("null param", nullParam.executeQuery());

            // A batch: rewritten into one multi-row INSERT with rewriteBatchedStatements.
            PreparedStatement batch = c.prepareStatement("INSERT INTO t_order (user_id, status, amount) VALUES (?, ?, ?)");
            for (String amount : new String[] {"1.25", "2.25", "3.25"}) {
                batch.setLong(1, tag);
                batch.setString(2, "batch");
                batch.setBigDecimal(3, new java.math.BigDecimal(amount));
                batch.addBatch();
            }
            int[] counts = batch.executeBatch();
            int total = 0;
            for (int n : counts) total += n == Statement.SUCCESS_NO_INFO ? 1 : n;
            System.out.println("batch: " + total);
            show("by status", prepare(c, "SELECT status, COUNT(*), SUM(amount) FROM t_order WHERE user_id = ? GROUP BY status ORDER BY status", tag).executeQuery());

            // Warnings: a value truncated into status VARCHAR(16) (a note-level warning in non-strict mode).
            st.execute("SET SESSION sql_mode = ''");
            st.executeUpdate("UPDATE t_order SET status = 'a status much longer than sixteen' WHERE user_id = " + tag + " AND status = 'new'");
            SQLWarning w = st.getWarnings();
            System.out.println("warning: " + (w == null ? "none" : w.getErrorCode() + " " + w.getMessage()));

            DatabaseMetaData meta = c.getMetaData();
            List<String> catalogs = new ArrayList<>();
            try (ResultSet rs = meta.getCatalogs()) { while (rs.next()) catalogs.add(rs.getString(1)); }
            System.out.println("catalogs: " + String.join(",", catalogs));
            List<String> tables = new ArrayList<>();
            try (ResultSet rs = meta.getTables(database, null, "%", new String[] {"TABLE"})) {
                while (rs.next()) tables.add(rs.getString("TABLE_CAT") + "." + rs.getString("TABLE_NAME"));
            }
            System.out.println("tables: " + String.join(",", tables));
            List<String> columns = new ArrayList<>();
            try (ResultSet rs = meta.getColumns(database, null, "t_order", "%")) {
                while (rs.next()) columns.add(rs.getString("COLUMN_NAME") + "/" + rs.getString("TYPE_NAME"));
            }
            System.out.println("columns: " + String.join(",", columns));
            List<String> pk = new ArrayList<>();
            try (ResultSet rs = meta.getPrimaryKeys(database, null, "t_order")) { while (rs.next()) pk.add(rs.getString("COLUMN_NAME")); }
            System.out.println("primary key: " + String.join(",", pk));
            ResultSetMetaData rsm = st.executeQuery("SELECT order_id, status, amount FROM t_order WHERE order_id = 1037").getMetaData();
            List<String> described = new ArrayList<>();
            for (int i = 1; i <= rsm.getColumnCount(); i++)
                described.add(rsm.getColumnName(i) + "/" + rsm.getTableName(i) + "/" + rsm.getColumnTypeName(i));
            System.out.println("result metadata: " + String.join(",", described));

            System.out.println("deleted: " + prepare(c, "DELETE FROM t_order WHERE user_id = ?", tag).executeUpdate());
        }
        System.out.println("done");
    }
}
