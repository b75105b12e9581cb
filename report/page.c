/*
 * The page frame, escaper and CSV writer every report shares.  The pages are
 * self-contained (inline CSS and SVG, no scripts, no external files) so one
 * file can be mailed, archived and printed as it is.
 *
 * Languages.  The HTML pages are written in English or Simplified Chinese
 * from one message table below (English message -> Chinese); a message
 * the table lacks stays English.  Thread safety: the language is a
 * _Thread_local, set by report_set_lang on the thread that then calls a
 * writer (the web server's request thread), so two requests in two
 * languages never see each other's; the table is read-only.
 */
#include "report/page.h"

#include "report/report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "tickets/tickets.h"
#include "util/clock.h"
#include "util/timefmt.h"
#include "util/banned.h"

static _Thread_local enum report_lang page_lang = REPORT_LANG_EN;

struct message {
	const char *en, *zh;
};

/* Every human-visible string of the HTML pages.  A format takes the
 * English arguments; the Chinese may number them (%2$s) to reorder them
 * (tests/unit/test_report.c checks every entry). */
static const struct message messages[] = {
	/* the frame and what several pages share */
	{ "camera", "摄像机" },
	{ "recorded", "已录制" },
	{ "verdict", "结论" },
	{ "reason", "原因" },
	{ "oldest footage", "最早录像" },
	{ "none", "无" },
	{ "unknown", "未知" },
	{ ", ", "，" },
	{ "ticket", "工单" },
	{ "level", "等级" },
	{ "fault", "故障" },
	{ "opened", "开单时间" },
	{ "acknowledged", "确认时间" },
	{ "resolved", "解决时间" },

	/* continuity */
	{ "vigil continuity report", "vigil 连续性报告" },
	{ "Continuity report", "连续性报告" },
	{ "From <b>%s</b> to <b>%s</b> (local time). Generated %s by vigil %s.",
	  "时间范围：<b>%1$s</b> 至 <b>%2$s</b>（当地时间）。由 vigil %4$s 于 %3$s 生成。" },
	{ "coverage", "覆盖率" },
	{ "continuous", "连续" },
	{ "%zu gap, longest %s", "有中断：%zu 处，最长 %s" },
	{ "%zu gaps, longest %s", "有中断：%zu 处，最长 %s" },
	{ "start", "开始" },
	{ "end", "结束" },
	{ "length", "时长" },
	{ "detail", "详情" },
	{ "not-yet", "尚未到来" },
	{ "not yet (after %s)", "尚未到来（%s 之后）" },
	/* the reasons of gaps, as the catalog and continuity name them */
	{ "camera-unreachable", "摄像机无法连接" },
	{ "stream-stalled", "视频流停滞" },
	{ "stream-error", "视频流错误" },
	{ "recorder-down", "录像机停机" },
	{ "storage-error", "存储故障" },
	{ "storage-full", "存储已满" },
	{ "recovered-partial", "部分恢复" },
	{ "deleted", "已删除" },
	{ "not-recording", "尚未录像" },
	{ "unaccounted", "无法解释" },
	/* and as the legend says them */
	{ "camera unreachable", "摄像机无法连接" },
	{ "stream stalled", "视频流停滞" },
	{ "stream error", "视频流错误" },
	{ "recorder down", "录像机停机" },
	{ "storage error", "存储故障" },
	{ "storage full", "存储已满" },
	{ "recovered in part", "部分恢复" },
	{ "deleted under the retention rule", "按保留规则删除" },
	{ "no footage from the camera yet", "摄像机尚无录像" },
	{ "other", "其他" },
	/* the fixed details of gaps */
	{ "no footage from this camera yet", "该摄像机尚无录像" },
	{ "no footage and no recorded reason", "无录像，且无记录在案的原因" },
	{ "footage deleted under the retention rule (", "录像已按保留规则删除（" },
	{ "vigil was not running", "vigil 未运行" },

	/* retention */
	{ "vigil retention report", "vigil 录像保留报告" },
	{ "Retention report", "录像保留报告" },
	{ "Generated %s by vigil %s. Storage: %s free of %s. Capacity forecast: <span "
	  "class=\"%s\">%s</span>.",
	  "由 vigil %2$s 于 %1$s 生成。存储：共 %4$s，可用 %3$s。容量预测：<span "
	  "class=\"%5$s\">%6$s</span>。" },
	{ "unknown (no recording measured yet)", "未知（尚未测得录像写入速率）" },
	{ "%.1f days at the current write rate%s", "按当前写入速率可维持 %.1f 天%s" },
	{ " - RETENTION AT RISK", "——录像保留期存在风险" },
	{ "days covered", "覆盖天数" },
	{ "floor", "保留下限" },
	{ "deleted in period", "期间删除" },
	{ "holds", "证据保全" },
	{ "met", "达标" },
	{ "breached", "未达标" },
	{ "not-applicable", "不适用" },
	{ "%d days", "%d 天" },
	{ ": %" PRId64, "：%" PRId64 },
	{ "expired", "到期删除" },
	{ "space", "空间不足删除" },
	{ "space-below-floor", "未满保留下限即删除" },
	{ "Each strip shows the last 90 days, oldest on the left: the darker the green, the more "
	  "of the day was recorded; red, nothing recorded.",
	  "每条色带显示最近 90 天，最早的一天在最左侧：绿色越深，当天录制的时间越多；红色表示当天"
	  "没有录像。" },
	{ "%s: %.1f%% recorded", "%s：已录制 %.1f%%" },
	{ "90 days ago", "90 天前" },
	{ "today", "今天" },
	{ "Legal holds in force", "生效中的证据保全" },
	{ "from", "开始" },
	{ "to", "结束" },
	{ "%" PRId64 " segments younger than the %d-day floor were deleted for space",
	  "%" PRId64 " 个未满 %d 天保留下限的录像段因空间不足被删除" },
	{ "no footage recorded yet", "尚无录像" },
	{ "recording for %.1f days, less than the %d-day floor: nothing may be deleted yet",
	  "已录像 %.1f 天，不足 %d 天保留下限：目前不得删除任何录像" },
	{ "%.1f hours of footage younger than the %d-day floor are deleted",
	  "未满 %2$d 天保留下限的录像已被删除 %1$.1f 小时" },
	{ "nothing younger than the %d-day floor was deleted; footage reaches back %.1f days",
	  "未满 %d 天保留下限的录像均未删除；录像可追溯 %.1f 天" },

	/* the SLA */
	{ "SLA report %s", "季度服务水平报告 %s" },
	{ "SLA report, quarter ", "季度服务水平报告：" },
	{ " &middot; %s to %s (local time) &middot; generated %s",
	  " &middot; %s 至 %s（当地时间） &middot; 生成于 %s" },
	{ "Score <span class=\"score%s\">%d</span> / 100",
	  "得分 <span class=\"score%s\">%d</span> / 100" },
	{ "Deductions", "扣分" },
	{ "Per site", "各站点" },
	{ "recorders", "录像机数" },
	{ "score", "得分" },
	{ "faults", "故障数" },
	{ "each", "每次扣分" },
	{ "deducted", "扣分合计" },
	{ "Response-time misses (target 10 min): %d", "响应超时（目标 10 分钟）：%d" },
	{ "response", "响应用时" },
	{ "never", "未确认" },
	{ "Faults: %zu", "故障：%zu" },

	/* the weekly inspection */
	{ "Inspection record %s", "每周巡检记录 %s" },
	{ "Weekly inspection record, week ", "每周巡检记录：" },
	{ "%s to %s (local time) &middot; generated %s",
	  "%s 至 %s（当地时间） &middot; 生成于 %s" },
	{ "Recorder ", "录像机 " },
	{ "site", "站点" },
	{ "disk", "磁盘" },
	{ "%s free of %s", "可用 %s，共 %s" },
	{ "forecast", "容量预测" },
	{ "reported", "上报时间" },
	{ "storage, at the time of this report", "存储（本报告生成时的状态）" },
	{ "%.0f days", "%.0f 天" },
	{ "Cameras", "摄像机" },
	{ "location", "安装位置" },
	{ "uptime", "在线率" },
	{ "gaps", "中断" },
	{ "tickets opened", "新开工单" },
	{ "tickets closed", "已关闭工单" },
	{ "%s, %s (%s)", "%s，%s（%s）" },
	{ "Tickets", "工单" },
	{ "Inspected by: ____________________ &nbsp; Date: ____________",
	  "巡检人：____________________ &nbsp; 日期：____________" },
	/* the picture inspection of the week */
	{ "Picture and clock", "图像与时钟" },
	{ "picture", "图像" },
	{ "last check", "最近检查" },
	{ "checks", "检查次数" },
	{ "failed checks", "异常次数" },
	{ "clock offset", "时钟偏差" },
	{ "latest picture", "最新画面" },
	{ "no picture", "无画面" },
	{ "%s at %s", "%s，%s" },
	{ "no check in the week", "本周未检查" },
	/* the picture's states, as the inspector names them */
	{ "ok", "正常" },
	{ "black", "黑屏" },
	{ "frozen", "画面冻结" },
	{ "covered", "遮挡" },
	{ "blurred", "模糊" },
	{ "moved", "视角偏移" },
	/* the fleet */
	{ "Recorders seen by the checker", "巡检程序所见的录像机" },
	{ "Site ", "站点 " },
	{ "recorder", "录像机" },
	{ "state", "状态" },
	{ "last seen", "最后上线" },
	{ "cameras", "摄像机数" },
	{ "not recording", "未在录像" },
	{ "console", "控制台" },
	{ "online", "在线" },
	{ "offline", "离线" },
	{ "unreachable", "无法连接" },
};
#define NMESSAGES (sizeof(messages) / sizeof(messages[0]))

int report_lang_parse(const char *name, enum report_lang *l)
{
	if (strcmp(name, "en") == 0) {
		*l = REPORT_LANG_EN;
		return 0;
	}
	if (strcmp(name, "zh-CN") == 0 || strcmp(name, "zh") == 0 || strcmp(name, "zh-Hans") == 0) {
		*l = REPORT_LANG_ZH;
		return 0;
	}
	return -EINVAL;
}

void report_set_lang(enum report_lang l)
{
	page_lang = l == REPORT_LANG_ZH ? REPORT_LANG_ZH : REPORT_LANG_EN;
}

enum report_lang report_get_lang(void)
{
	return page_lang;
}

const char *page_tr(const char *en)
{
	if (page_lang == REPORT_LANG_EN || !en)
		return en;
	for (size_t i = 0; i < NMESSAGES; i++)
		if (strcmp(messages[i].en, en) == 0)
			return messages[i].zh;
	return en;
}

const char *page_tr_entry(size_t i, const char **zh)
{
	if (i >= NMESSAGES)
		return NULL;
	*zh = messages[i].zh;
	return messages[i].en;
}

void page_printf(FILE *out, const char *en_fmt, ...)
{
	va_list ap;
	va_start(ap, en_fmt);
	vfprintf(out, page_tr(en_fmt), ap);
	va_end(ap);
}

void page_snprintf(char *buf, size_t size, const char *en_fmt, ...)
{
	va_list ap;
	va_start(ap, en_fmt);
	vsnprintf(buf, size, page_tr(en_fmt), ap);
	va_end(ap);
}

void page_html_tr(FILE *out, const char *en)
{
	page_html_text(out, page_tr(en));
}

/* The retention sweep's detail names its rule: keep the name, say the rest. */
#define DELETED_DETAIL "footage deleted under the retention rule ("

void page_html_detail(FILE *out, const char *detail)
{
	size_t n = strlen(DELETED_DETAIL), len = detail ? strlen(detail) : 0;
	if (page_lang != REPORT_LANG_EN && len > n && strncmp(detail, DELETED_DETAIL, n) == 0 &&
	    detail[len - 1] == ')') {
		char rule[64];
		snprintf(rule, sizeof(rule), "%.*s", (int)(len - n - 1), detail + n);
		page_html_tr(out, DELETED_DETAIL);
		page_html_tr(out, rule);
		page_html_text(out, "）");
		return;
	}
	page_html_tr(out, detail);
}

void page_duration(int64_t us, char *buf, size_t size)
{
	if (page_lang == REPORT_LANG_EN) {
		duration_format(us, buf, size);
		return;
	}
	const char *sign = us < 0 ? "-" : "";
	if (us < 0)
		us = -us;
	int64_t s = us / USEC_PER_SEC;
	if (s < 60)
		snprintf(buf, size, "%s%.1f秒", sign, (double)us / USEC_PER_SEC);
	else if (s < 3600)
		snprintf(buf, size, "%s%" PRId64 "分%02" PRId64 "秒", sign, s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%s%" PRId64 "小时%02" PRId64 "分%02" PRId64 "秒", sign,
			 s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, size, "%s%" PRId64 "天%02" PRId64 "小时%02" PRId64 "分", sign,
			 s / 86400, s / 3600 % 24, s / 60 % 60);
}

static const char style[] =
	"body{font-family:sans-serif;margin:2em;color:#222}\n"
	"h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}\n"
	"table{border-collapse:collapse;margin:.5em 0}\n"
	"th,td{border:1px solid #bbb;padding:.25em .6em;text-align:left;font-size:.9em}\n"
	"th{background:#eee}.num{text-align:right}\n"
	".ok{color:#176b2c;font-weight:bold}.bad{color:#a51d1d;font-weight:bold}"
	".na{color:#666;font-weight:bold}\n"
	".note,.small{color:#555;font-size:.85em}.score{font-size:2.5em;font-weight:bold}\n"
	"svg{display:block;margin:.3em 0}\n"
	".legend span{display:inline-block;margin-right:1.2em;font-size:.85em}\n"
	".legend i{display:inline-block;width:1em;height:.8em;margin-right:.3em;"
	"border:1px solid #999;vertical-align:middle}\n"
	"@media print{body{margin:1cm}h2{page-break-after:avoid}tr{page-break-inside:avoid}"
	"th{background:#ddd!important}"
	"svg rect,.legend i{-webkit-print-color-adjust:exact;print-color-adjust:exact}}\n";

void page_html_text(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '&': fputs("&amp;", out); break;
		case '"': fputs("&quot;", out); break;
		default: fputc(*s, out);
		}
	}
}

void page_html_head(FILE *out, const char *title)
{
	fprintf(out, "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\">\n<title>",
		page_lang == REPORT_LANG_ZH ? "zh-CN" : "en");
	page_html_text(out, title);
	fputs("</title>\n<style>\n", out);
	fputs(style, out);
	fputs("</style></head><body>\n", out);
}

void page_html_end(FILE *out)
{
	fputs("</body></html>\n", out);
}

void page_csv_field(FILE *out, const char *s)
{
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

int page_finish(FILE *out)
{
	return fflush(out) == 0 && !ferror(out) ? 0 : -EIO;
}

int report_format_parse(const char *name, enum report_format *f)
{
	static const char *const names[] = { "text", "json", "csv", "html" };
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, names[i]) == 0) {
			*f = (enum report_format)i;
			return 0;
		}
	}
	return -EINVAL;
}

void page_local_min(int64_t us, char *out, size_t size)
{
	if (us < 0) {
		snprintf(out, size, "-");
		return;
	}
	time_format_local(us, out, size);
	if (strlen(out) > 16)
		out[16] = '\0';
}

void page_json_time_or_null(struct json_writer *w, const char *key, int64_t us)
{
	if (us >= 0) {
		jw_kv_time(w, key, us);
	} else {
		jw_key(w, key);
		jw_null(w);
	}
}

struct ticket_db *page_open_tickets(const struct config *cfg, int *ret, char *err, size_t errlen)
{
	if (access(cfg->checker_database, F_OK) < 0) {
		snprintf(err, errlen,
			 "no ticket database at '%s' (has vigil check run with this config?)",
			 cfg->checker_database);
		*ret = -ENOENT;
		return NULL;
	}
	struct ticket_db *db =
		ticket_db_open(cfg->checker_database, CATALOG_READ_ONLY, NULL, err, errlen);
	*ret = db ? 0 : -EIO;
	return db;
}

void page_ticket_text(const struct ticket *t, int64_t now_us, char *out, size_t size)
{
	ticket_text_lang(t, now_us, page_lang == REPORT_LANG_ZH ? TICKET_LANG_ZH : TICKET_LANG_EN,
			 out, size);
}

void page_html_ticket_row(FILE *out, const struct ticket *t, int64_t now_us)
{
	char o[40], r[40], text[1024];

	page_local_min(t->opened_us, o, sizeof(o));
	page_local_min(t->resolved_us, r, sizeof(r));
	page_ticket_text(t, now_us, text, sizeof(text));
	fprintf(out, "<tr><td>#%" PRId64 "</td><td>%d</td><td>", t->id, t->level);
	page_html_text(out, text);
	fprintf(out, "</td><td>%s</td><td>%s</td></tr>\n", o, r);
}
