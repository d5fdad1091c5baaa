"""Every word the pages show, in Chinese (the default) and English, in one table.

A page's template and its script read the same table: the template through ``t(key)``, the
script through the JSON block each page carries. A key missing from the table is a test
failure (tests/web/test_pages.py), never an empty label.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from rxtrace.api.dossier.model import STATUS_HELP_ZH, STATUS_TEXT

__all__ = ["LANGUAGES", "MESSAGES", "choose_language", "explain_rule", "messages", "status_words"]

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"

# key: (zh-CN, en)
MESSAGES: Mapping[str, tuple[str, str]] = {
    "app.name": ("rxtrace 药品追溯", "rxtrace drug tracing"),
    "app.tagline": ("查获药盒 → 医保结算 → 线索", "Seized boxes → insurance sales → leads"),
    "lang.switch": ("English", "中文"),
    "nav.home": ("案件", "Cases"),
    "nav.scan": ("扫码", "Scan"),
    "nav.resolve": ("查码", "Resolve"),
    "nav.map": ("地图", "Map"),
    "nav.leads": ("线索", "Leads"),
    "nav.audit": ("审计", "Audit"),
    "nav.users": ("用户", "Users"),
    "nav.loads": ("数据导入", "Loads"),
    "nav.logout": ("退出", "Log out"),
    "nav.menu": ("菜单", "Menu"),
    "login.title": ("登录", "Log in"),
    "login.username": ("用户名", "User name"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.failed": ("登录失败", "Login failed"),
    "common.loading": ("加载中…", "Loading…"),
    "common.error": ("出错", "Error"),
    "common.search": ("搜索", "Search"),
    "common.none": ("无", "None"),
    "common.all": ("全部", "All"),
    "common.open": ("打开", "Open"),
    "common.save": ("保存", "Save"),
    "common.cancel": ("取消", "Cancel"),
    "common.download": ("下载", "Download"),
    "common.offline": ("网络已断开", "Offline"),
    "common.forbidden": ("您的角色无权访问此页面。", "Your role may not open this page."),
    "common.not_found": ("找不到此页面。", "No such page."),
    "common.boxes": ("盒数", "Boxes"),
    "common.fund_loss": ("基金损失（元）", "Fund loss (yuan)"),
    "common.status": ("状态", "Status"),
    "common.drug": ("药品", "Drug"),
    "common.institution": ("机构", "Institution"),
    "common.doctor": ("医生", "Doctor"),
    "common.card": ("医保卡", "Card"),
    "common.time": ("时间", "Time"),
    "common.code": ("追溯码", "Code"),
    "common.repeat_upload": (
        "同一结算数分钟内重复上传（一次销售）：",
        "uploaded twice minutes apart (one sale): ",
    ),
    "common.sales": ("医保结算", "Insurance sales"),
    "common.count": ("数量", "Count"),
    "common.reason": ("原因", "Reason"),
    "common.user": ("用户", "User"),
    "common.role": ("角色", "Role"),
    "common.filter": ("筛选", "Filter"),
    "common.list": ("列表", "List"),
    "home.title": ("案件与查获", "Cases and seizures"),
    "home.cases": ("案件", "Cases"),
    "home.seizures": ("查获记录", "Seizures"),
    "home.case": ("案件编号", "Case"),
    "home.seizure": ("查获编号", "Seizure"),
    "home.when": ("查获时间", "Seized"),
    "home.where": ("地点", "Place"),
    "home.paste": ("粘贴追溯码（每行一个）", "Paste codes (one per line)"),
    "home.search_hint": ("按编号或地点搜索", "Search by id or place"),
    "home.scan_here": ("扫码录入", "Scan into it"),
    "resolve.title": ("查追溯码", "Resolve codes"),
    "resolve.hint": (
        "粘贴或输入追溯码，每行一个；扫码枪可直接输入。",
        "Paste or type codes, one per line; a hand scanner types into the box.",
    ),
    "resolve.submit": ("查询", "Resolve"),
    "resolve.codes": ("追溯码", "Codes"),
    "resolve.why": ("说明", "Why"),
    "case.title": ("案件", "Case"),
    "case.summary": ("概况", "Summary"),
    "case.boxes": ("药盒", "Boxes"),
    "case.chart": ("关系图", "Link chart"),
    "case.timeline": ("时间线", "Timeline"),
    "case.dossier": ("卷宗", "Dossier"),
    "case.cards": ("医保卡", "Cards"),
    "case.institutions": ("机构", "Institutions"),
    "case.doctors": ("医生", "Doctors"),
    "case.dates": ("结算日期", "Sale dates"),
    "case.drugs": ("药品种类", "Drugs"),
    "case.clone_suspects": ("疑似克隆码", "Suspected cloned codes"),
    "case.filter_status": ("按状态筛选", "Filter by status"),
    "case.search_boxes": ("搜索追溯码、药品、机构", "Search code, drug, institution"),
    "case.expand_hint": (
        "点击节点展开其药盒与结算，再次点击收起。",
        "Click a node to expand its boxes and sales; click again to collapse.",
    ),
    "case.export_png": ("导出 PNG", "Export PNG"),
    "case.export_graphml": ("导出 GraphML", "Export GraphML"),
    "case.fit": ("适应窗口", "Fit"),
    "case.toggle": ("展开/收起", "Expand / collapse"),
    "case.reveal": ("显示身份信息", "Show identity data"),
    "case.reveal_reason": ("查看身份信息的原因", "Why identity data must be seen"),
    "case.zoom_in": ("放大", "Zoom in"),
    "case.lanes": ("时间线分行依据", "Timeline lanes by"),
    "case.zoom_out": ("缩小", "Zoom out"),
    "case.selected": ("已选", "Selected"),
    "case.clear": ("清除", "Clear"),
    "type.card": ("医保卡", "Card"),
    "type.institution": ("机构", "Institution"),
    "type.doctor": ("医生", "Doctor"),
    "type.seizure": ("查获", "Seizure"),
    "type.box": ("药盒", "Box"),
    "type.sale": ("结算", "Sale"),
    "type.code": ("追溯码", "Code"),
    "type.site": ("地点", "Site"),
    "type.waybill": ("运单", "Waybill"),
    "event.sale": ("医保结算", "Sale"),
    "event.return": ("退货", "Return"),
    "event.seizure": ("查获", "Seizure"),
    "event.shipment": ("寄递", "Shipment"),
    "map.title": ("地图", "Map"),
    "map.case": ("案件", "Case"),
    "map.layer": ("热点依据", "Hot spot basis"),
    "map.from": ("起", "From"),
    "map.to": ("止", "To"),
    "map.cells": ("热点网格", "Hot spot cells"),
    "map.clusters": ("小区聚集", "Compound clusters"),
    "map.seizures": ("查获地点", "Seizure sites"),
    "map.institutions": ("医药机构", "Institutions"),
    "map.routes": ("寄递路线", "Courier routes"),
    "map.districts": ("区界", "Districts"),
    "map.inset": ("全国寄递去向", "Where parcels went, nationwide"),
    "map.hot99": ("热点 99%", "Hot spot 99 %"),
    "map.hot95": ("热点 95%", "Hot spot 95 %"),
    "map.hot90": ("热点 90%", "Hot spot 90 %"),
    "map.flagged": ("可疑路线", "Flagged route"),
    "map.cold90": ("冷点 90%", "Cold spot 90 %"),
    "map.cold95": ("冷点 95%", "Cold spot 95 %"),
    "map.cold99": ("冷点 99%", "Cold spot 99 %"),
    "map.not_significant": ("不显著", "Not significant"),
    "map.confidence": ("置信", "confidence"),
    "map.noun.seizures": ("次查获", "seizures"),
    "map.noun.residences": ("个持卡人住址", "card holders' homes"),
    "map.noun.institutions": ("家医药机构", "institutions"),
    "map.neighbours_hot": ("（本格为 0，周边格子集中）", "(none in this cell: the cells around it are hot)"),
    "map.statistics": ("统计细节", "Statistics"),
    "map.items_shown": ("项显示", "items shown"),
    "leads.title": ("线索", "Leads"),
    "leads.kind": ("类型", "Kind"),
    "leads.status": ("状态", "Status"),
    "leads.case": ("案件", "Case"),
    "leads.rule": ("规则", "Rule"),
    "leads.name": ("对象", "Subject"),
    "leads.score": ("分值", "Score"),
    "leads.evidence": ("证据", "Evidence"),
    "leads.statistics": ("统计细节", "Statistics"),
    "leads.history": ("处理记录", "History"),
    "leads.note": ("备注", "Note"),
    "leads.add_note": ("添加备注", "Add note"),
    "leads.move": ("改为", "Move to"),
    "leads.pick": ("选择一条线索查看证据。", "Pick a lead to see its evidence."),
    "leads.observed": ("实际", "observed"),
    "leads.expected": ("按同类应为", "expected from peers"),
    # A lead's rules in plain words; {name} is filled from the rule's evidence.
    "rule.resold_at": (
        "{observed} 次销售的是已发放过的药盒（按同类机构应约 {expected} 次）",
        "{observed} sales of boxes already dispensed (peers would have about {expected})",
    ),
    "rule.cloned_at": (
        "{observed} 次销售的是克隆码（按同类机构应约 {expected} 次）",
        "{observed} sales of cloned codes (peers would have about {expected})",
    ),
    "rule.resold_card": (
        "此卡购买的 {observed} 盒是再次结算的药盒（按同类应约 {expected}）",
        "{observed} boxes on this card were settled again (peers would have about {expected})",
    ),
    "rule.seized_share": (
        "{observed} 盒出现在查获中（按同类应约 {expected} 盒）",
        "{observed} of its boxes were found in seizures (peers would have about {expected})",
    ),
    "rule.seized_cards": (
        "{observed} 张处方开给了有药盒被查获的医保卡（按同类应约 {expected}）",
        "{observed} prescriptions for cards whose boxes were seized (peers would have about {expected})",
    ),
    "rule.card_seized": (
        "此卡购买的 {boxes} 盒药被查获，基金支付 {fund_yuan} 元，"
        "涉及 {seizures} 次查获、{institutions} 家机构",
        "{boxes} seized boxes were bought on this card, {fund_yuan} yuan of fund money, "
        "in {seizures} seizures, from {institutions} institutions",
    ),
    "rule.cross_institution": (
        "{institutions} 家机构在 {window_days} 天内向此卡发放同一药品 {drug_name}，"
        "共 {units} 单位（合理用量约 {plausible_units}）",
        "{institutions} institutions dispensed {drug_name} to this card within {window_days} days: "
        "{units} units where about {plausible_units} is plausible",
    ),
    "rule.cloned": (
        "同一追溯码结算了不同药品：{drug_names}",
        "One code settled as different drugs: {drug_names}",
    ),
    "rule.resold": (
        "净结算 {net_boxes} 盒，其中 {resales} 次是已发放药盒再次结算（重复结算）",
        "{net_boxes} boxes settled net; {resales} sales of a box already dispensed (settled again)",
    ),
    "rule.seized_code": ("此追溯码读自查获的药盒", "This code was read off a seized box"),
    "rule.fund_share": (
        "医保基金支付了其结算金额的 {fund_percent}%（{peers} 家同类机构的中位数为 {peers_percent}%）",
        "The fund paid {fund_percent}% of what it billed ({peers} peers: {peers_percent}% in the middle)",
    ),
    "rulename.fund_share": ("基金支付比例异常", "Fund share far above peers"),
    "rule.fund_share_billed": (
        "在 {institution} 的 {settlements} 次结算中，医保基金支付了 {fund_percent}%"
        "（同类机构中位 {peers_percent}%）",
        "{settlements} settlements at {institution}, the fund paying {fund_percent}% of them "
        "(peers: {peers_percent}%)",
    ),
    "rulename.fund_share_billed": ("在基金支付比例异常的机构结算", "Billed at a fund-share outlier"),
    "rule.co_visits": (
        "与同组 {group_size} 张卡中的 {partners} 张在 {institution_count} 家机构先后结算"
        "（与同一张卡同日先后结算最多 {days_together} 天）",
        "Settled one after another with {partners} cards of a group of {group_size}, at "
        "{institution_count} institutions (up to {days_together} days with the same card)",
    ),
    "rulename.co_visits": ("多卡结伴结算", "Cards that come together"),
    "rule.sittings": (
        "{cards_billed} 张医保卡在此一张接一张结算（每批最多 {largest_sitting} 张），共 {days} 天，"
        "反复是同一批卡；{bills} 笔结算共 {baskets} 种药品组合，由 {doctor_count} 名医生开具",
        "{cards_billed} cards billed here one after another (up to {largest_sitting} a sitting) on "
        "{days} days, the same cards again and again; {bills} bills in {baskets} baskets by "
        "{doctor_count} doctors",
    ),
    "rulename.sittings": ("同批医保卡反复集中结算", "Same cards billed together"),
    "rule.small_visits": (
        "{first_day} 至 {last_day} 在 {institutions} 家机构就诊 {visits} 次配 {drug_name}"
        "（每 30 天约 {visits_per_window} 次），共 {units} 单位，为一般用量的 {ratio} 倍",
        "{visits} visits for {drug_name} at {institutions} institutions from {first_day} to "
        "{last_day} ({visits_per_window} a window): {units} units, {ratio}× a card's usual use",
    ),
    "rulename.small_visits": ("多次就诊少量配药", "Many small visits"),
    "rule.card_turns": (
        "同组 {group_size} 张结伴结算的医保卡中 {card_count} 张轮流配 {drug_name}：{first_day} 至 {last_day} "
        "在 {institutions} 家机构共 {days} 天（每 30 天约 {days_per_window} 天），共 {units} 单位，"
        "为一张卡一般用量的 {ratio} 倍；此卡 {card_units} 单位",
        "{card_count} cards of a group of {group_size} that come together took turns for {drug_name}: "
        "{days} days at {institutions} institutions from {first_day} to {last_day} "
        "({days_per_window} a window), {units} units, {ratio}× one card's usual use; "
        "{card_units} on this card",
    ),
    "rulename.card_turns": ("多卡轮换配同一药品", "Cards taking turns for one drug"),
    "rule.no_treatment": (
        "在 {institution} 的 {windows} 个 30 天周期中有 {baskets} 个开出多药组合，共 {drug_count} 种药品"
        "（{drug_names}），仅 {core_percent}% 属于多数周期重复的药品，不像治疗用药",
        "Baskets in {baskets} of {windows} 30-day windows at {institution}: {drug_count} different "
        "drugs ({drug_names}), only {core_percent}% of them a drug given in most windows, as a "
        "treatment's would be",
    ),
    "rulename.no_treatment": ("用药组合不像治疗", "Drug mix unlike a treatment"),
    "rule.no_treatment_at": (
        "{exposure} 张医保卡中 {observed} 张逐月开出不相关的多药组合、无重复用药"
        "（如 {drug_names}；按同类机构的比例应约 {expected} 张）",
        "{observed} of {exposure} cards billed baskets of unrelated drugs month after month, none "
        "coming back as a treatment's (such as {drug_names}; peers' rate: about {expected})",
    ),
    "rulename.no_treatment_at": ("多卡用药组合不像治疗", "Cards billed baskets unlike a treatment"),
    "rule.bursts": (
        "{observed} 次结算距上一张不同医保卡的结算不到 {burst_seconds} 秒"
        "（按其他医生的比例应约 {expected} 次，共 {settlements} 次结算）",
        "{observed} settlements to another card within {burst_seconds} s of the last "
        "(other doctors' rate: about {expected}; {settlements} settlements)",
    ),
    "rulename.bursts": ("短时连续为多卡结算", "Cards billed in bursts"),
    "rule.oversupply": (
        "{window_start} 起 {window_days} 天内从 {institutions} 家机构获得 {drug_name} 共 {units} 单位，"
        "超过合理用量 {plausible_units}",
        "{units} units of {drug_name} from {institutions} institutions in {window_days} days from "
        "{window_start}: more than the plausible {plausible_units}",
    ),
    "rulename.oversupply": ("超过合理用量", "More than a plausible dose"),
    "rule.boxes_per_card": (
        "{exposure} 个卡·日共发放 {observed} 盒（按同类机构的比例应约 {expected} 盒）",
        "{observed} boxes over {exposure} card-days (peers' rate: about {expected})",
    ),
    "rulename.boxes_per_card": ("每卡每日发药盒数异常", "Boxes per card-day far above peers"),
    "rule.visit_ids": (
        "{exposure} 次结算中 {observed} 次没有就诊号或与其他医保卡共用就诊号"
        "（按同类机构的比例应约 {expected} 次）",
        "{observed} of {exposure} settlements with no visit number or one shared by several cards "
        "(peers' rate: about {expected})",
    ),
    "rulename.visit_ids": ("就诊号缺失或多卡共用", "Settlements without a real visit number"),
    "rule.modal_basket": (
        "{exposure} 张医保卡中 {observed} 张领取完全相同的多药组合（按同类机构的比例应约 {expected} 张）",
        "{observed} of {exposure} cards given the very same multi-drug basket "
        "(peers' rate: about {expected})",
    ),
    "rulename.modal_basket": ("多卡领取相同药品组合", "Many cards getting the same drugs"),
    "rule.bunched": (
        "相隔数分钟为另一张医保卡的 {exposure} 笔结算中，{observed} 笔与上一笔完全相同"
        "（按其自身的比例应约 {expected} 笔）",
        "{observed} of {exposure} bills to another card minutes after the last were identical to it "
        "(its own rate: about {expected})",
    ),
    "rulename.bunched": ("数分钟内为不同卡开出相同处方", "Identical bills minutes apart"),
    "rulename.resold_at": ("销售已发放药盒", "Sold boxes already dispensed"),
    "rulename.cloned_at": ("销售克隆码", "Sold cloned codes"),
    "rulename.resold_card": ("卡上有重复结算药盒", "Card on resold boxes"),
    "rulename.seized_share": ("查获占比高", "Share found in seizures"),
    "rulename.seized_cards": ("处方集中于被查获卡", "Prescriptions on seized cards"),
    "rulename.card_seized": ("此卡药盒被查获", "Card whose boxes were seized"),
    "rulename.cross_institution": ("多机构同药", "Same drug from many institutions"),
    "rulename.cloned": ("克隆码", "Cloned code"),
    "rulename.resold": ("重复结算", "Resold box"),
    "rulename.seized_code": ("查获药盒的码", "Code on a seized box"),
    "lead.new": ("新线索", "new"),
    # A doctor lead is named after where the doctor practises; its kind is shown beside it.
    "lead.doctor_at": ("执业于 {place}", "at {place}"),
    "lead.investigating": ("调查中", "investigating"),
    "lead.escalated": ("已上报", "escalated"),
    "lead.closed": ("已关闭", "closed"),
    "kind.card": ("医保卡", "card"),
    "kind.institution": ("机构", "institution"),
    "kind.doctor": ("医生", "doctor"),
    "kind.code": ("追溯码", "code"),
    "audit.title": ("审计日志", "Audit log"),
    "audit.action": ("操作", "Action"),
    "audit.persons": ("涉及人员", "Persons shown"),
    "audit.revealed": ("显示身份", "Unmasked"),
    "audit.chain": ("日志链校验", "Chain check"),
    "audit.address": ("地址", "Address"),
    "users.title": ("用户管理", "Users"),
    "users.add": ("添加用户", "Add user"),
    "users.disable": ("停用", "Disable"),
    "users.disabled": ("已停用", "Disabled"),
    "users.active": ("正常", "Active"),
    "users.created": ("创建时间", "Created"),
    "loads.title": ("数据导入", "Loads"),
    "loads.files": ("合同文件（CSV / JSON Lines）", "Contract files (CSV / JSON Lines)"),
    "loads.upload": ("上传并导入", "Upload and load"),
    "loads.recent": ("最近导入", "Recent loads"),
    "loads.rejects": ("未导入的行", "Rows set aside"),
    "loads.file": ("文件", "File"),
    "loads.table": ("表", "Table"),
    "loads.line": ("行号", "Line"),
    "loads.taken": ("已导入", "Taken"),
    "loads.set_aside": ("已剔除", "Set aside"),
    "loads.state": ("结果", "Result"),
    "scan.title": ("扫码录入", "Scan boxes"),
    "scan.seizure": ("查获编号", "Seizure"),
    "scan.start": ("开始扫码", "Start camera"),
    "scan.stop": ("停止", "Stop"),
    "scan.photo": ("拍照识别", "Photo"),
    "scan.count": ("已录入盒数", "Boxes counted"),
    "scan.waiting": ("待上传", "Waiting to send"),
    "scan.no_camera": ("无法打开摄像头", "The camera could not be opened"),
    "scan.no_seizure": (
        "请先选择查获记录（从案件页进入）。",
        "Pick a seizure first (from the cases page).",
    ),
    "scan.pending": ("待核验", "checking"),
    "scan.new_seizure": ("现场新建查获记录", "Open a new seizure here"),
    "scan.open": ("新建", "Open"),
    "scan.new_seizure_hint": (
        "查获文件导入后，其记录将替换此临时记录，已扫药盒保留。",
        "When the seizures file is loaded, its row replaces this provisional one; the boxes stay.",
    ),
    "scan.refused": ("未采信", "not taken"),
    "scan.sent": ("已上传", "sent"),
    "role.investigator": ("调查员", "investigator"),
    "role.supervisor": ("主管", "supervisor"),
    "role.admin": ("管理员", "admin"),
}


def choose_language(wanted: str | None) -> str:
    """The page language: an explicit choice if it is one we have, else Chinese.

    >>> choose_language("en")
    'en'
    >>> choose_language(None)
    'zh-CN'
    >>> choose_language("fr")
    'zh-CN'
    """
    if wanted in LANGUAGES:
        return str(wanted)
    return DEFAULT_LANGUAGE


def status_words(status: str) -> tuple[str, str]:
    """A box status in the dossier's own words, split into its Chinese and English halves.

    >>> status_words("dispensed_repeatedly")
    ('重复结算', 'settled again')
    """
    zh, en = STATUS_TEXT[status][0].split(" ", 1)
    return zh, en


def messages(language: str) -> dict[str, str]:
    """Every key in one language, the box statuses (``status.*``) included."""
    index = LANGUAGES.index(language)
    table = {key: pair[index] for key, pair in MESSAGES.items()}
    for status in STATUS_TEXT:
        table[f"status.{status}"] = status_words(status)[index]
        table[f"status_help.{status}"] = (
            STATUS_HELP_ZH.get(status, STATUS_TEXT[status][1]) if index == 0 else STATUS_TEXT[status][1]
        )
    return table


def _number(value: object) -> str:
    # Evidence gives some counts as the list of what was counted (the seizures, say).
    if isinstance(value, list | tuple):
        return str(len(value))
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.{2 if abs(value) < 1 else 1}f}"
    return str(value)


def explain_rule(
    rule: str, evidence: Mapping[str, object], drug_names: Mapping[str, str | None], language: str
) -> str | None:
    """A lead's rule in plain words (``rule.*`` above), drugs by name; None for a rule the
    table has no words for. The leads page fills the same templates in its script.

    >>> explain_rule("resold_at", {"observed": 30, "expected": 0.008}, {}, "en")
    '30 sales of boxes already dispensed (peers would have about 0.01)'
    >>> explain_rule("cloned", {"drugs": ["XA1", "XA2"]}, {"XA1": "波立维"}, "zh-CN")
    '同一追溯码结算了不同药品：波立维、XA2'
    """
    pair = MESSAGES.get(f"rule.{rule}")
    if pair is None:
        return None
    template = pair[LANGUAGES.index(language)]

    def name(code: object) -> str:
        return drug_names.get(str(code)) or str(code)

    drugs = evidence.get("drugs")
    values = {
        **evidence,
        "drug_name": name(evidence.get("drug")),
        "drug_names": "、".join(name(d) for d in drugs) if isinstance(drugs, list) else "",
    }
    return re.sub(
        r"\{(\w+)\}", lambda m: _number(values[m.group(1)]) if m.group(1) in values else "?", template
    )
