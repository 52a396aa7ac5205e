"""Does a line tell the reader to do something? Term-and-definition lines versus steps.

Two shapes look alike in a runbook's lists: `Restart the worker: `systemctl restart worker``
(a step: an imperative verb phrase, a colon, then its command or instruction) and
`**Closed**: normal operation` (a definition: a term, a colon, then what it means). Prose is
alike: "Restart the pods if the queue keeps growing." is a task, "Nothing here is urgent." is
not. The rules, in order:

1. A line whose text after the separator holds a **command** (an inline code span of two or
   more words starting with a program name, or `$ …`) is a step. This rule does not depend on
   the language: "Worker neu starten: `systemctl restart worker`" is a step too.
2. A line that **opens with an imperative verb** (after list numbering, "First,", "Then", or
   an "If …," clause) is a step, whatever follows its colon. The verbs are a small vocabulary
   of the words runbooks use (English, Portuguese, Spanish, German, French, and CJK verbs at
   the start of a line); it is a hint, not a list of cases.
3. A line whose text after the separator opens with an imperative verb ("Queue full: restart
   the worker") is a step.
4. Otherwise `term: explanation` is a definition, and prose that neither names a command nor
   opens with a verb (nor says "you should / make sure / ensure") is description, not a task.
"""

from __future__ import annotations

import re

VERBS = {
    # English
    "acknowledge", "add", "alert", "allow", "analyze", "analyse", "announce", "apply", "ask",
    "assess", "assign", "attach", "audit", "backup", "block", "bump", "call", "cancel", "capture",
    "change", "check", "clean", "clear", "close", "collect", "communicate", "compare",
    "configure", "confirm", "connect", "contact", "contain", "copy", "cordon", "create",
    "curl", "debug", "decrease", "delete", "deploy", "describe", "detach", "determine",
    "disable", "deduce", "dig", "document", "establish", "consult", "adjust", "download",
    "drain", "drop", "dump", "edit", "email",
    "enable", "ensure", "escalate", "evict", "examine", "execute", "export", "extend",
    "failover", "find", "fix", "flush", "follow", "force", "gather", "get",
    "go", "grant", "grep", "identify", "import", "increase", "inform", "inspect", "install",
    "investigate", "isolate", "kill", "label", "launch", "list", "locate", "lock",
    "login", "look", "make", "mark", "merge", "migrate", "monitor", "mount", "move", "note",
    "proceed", "keep", "generate", "regenerate", "prepare", "provide", "share", "reach",
    "leave", "hold", "avoid", "invalidate", "reissue", "issue", "store", "save", "commit",
    "notify", "observe", "open", "page", "pause", "ping", "post", "promote", "provision",
    "prune", "pull", "purge", "push", "query", "quarantine", "raise", "re-run", "read",
    "reboot", "rebuild", "record", "recover", "recreate", "redeploy", "reduce", "refresh",
    "reload", "remove", "renew", "repair", "replace", "replay", "report", "request", "rerun",
    "reset", "resize", "resolve", "restart", "restore", "resume", "retry", "revert", "review",
    "revoke", "roll", "rollback", "rotate", "run", "scale", "schedule", "search", "send",
    "set", "shut", "silence", "snapshot", "ssh", "start", "stop", "suspend", "switch", "sync",
    "tag", "tail", "take", "tell", "terminate", "test", "throttle", "trigger", "truncate",
    "try", "turn", "uncordon", "undo", "unlock", "update", "upgrade", "upload", "use",
    "validate", "vacuum", "verify", "visit", "wait", "watch", "wipe", "write",
    # Portuguese / Spanish (imperative and infinitive forms runbooks use)
    "verifique", "verificar", "reinicie", "reiniciar", "executar", "ejecute",
    "ejecutar", "confirme", "confirmar", "revise", "revisar", "acione", "acionar", "abra",
    "abrir", "notifique", "notificar", "escale", "escalar", "pare", "parar", "inicie",
    "iniciar", "remova", "remover", "elimine", "eliminar", "restaure", "restaurar", "aplique",
    "aplicar", "compruebe", "comprobar", "consulte", "consultar", "rode", "rodar", "faça",
    "haga", "envie", "enviar", "desative", "desactivar", "ative", "activar", "aumente",
    "aumentar", "reduza", "reducir", "reinicia", "ejecuta", "verifica", "revisa", "abre",
    # German (imperative; infinitive forms end the phrase, see rule 1)
    "prüfe", "prüfen", "starte", "stoppe", "führe", "öffne", "lösche", "überprüfe",
    "kontrolliere", "informiere", "setze", "erstelle", "melde", "sichere", "aktualisiere",
    # French
    "vérifiez", "vérifier", "redémarrez", "redémarrer", "exécutez", "exécuter", "lancez",
    "ouvrez", "supprimez", "contactez", "arrêtez", "relancez", "consultez",
}
CJK_VERBS = (
    "检查", "确认", "重启", "执行", "运行", "查看", "通知", "联系", "停止", "启动", "回滚",
    "恢复", "切换", "扩容", "清理", "删除", "登录", "验证", "排查", "上报", "升级", "隔离",
    "確認", "再起動", "実行", "停止", "起動", "連絡", "報告", "切り替え", "削除", "ログイン",
)
# "make sure", "you should", "be sure to": the sentence asks the reader to act.
ASKS = re.compile(
    r"\b(?:you (?:should|must|need to|have to|can|may need to|will need to)|make sure|be sure"
    r"|ensure|please|don't forget|do not forget|it is necessary to)\b|\b(?:não|nunca) esqueça"
    r"|\bdeve(?:m)? ser\b|\bmüssen\b|\bbitte\b",
    re.IGNORECASE,
)
MARKUP = re.compile(r"[*_~]+|^\s*(?:[-+*]\s+)?(?:\[[ xX]\]\s*)?")
NUMBERING = re.compile(r"^\s*(?:\(?\d+(?:\.\d+)*[.):]|[a-z][.)]|step\s*\d+\s*[:.)-]?)\s*", re.I)
OPENER = re.compile(
    r"^(?:first|then|next|finally|now|also|afterwards|optionally|alternatively|otherwise|"
    r"either|instead|primeiro|depois|então|luego|después|dann|danach|zuerst|ensuite|puis|"
    r"sinon)\b[,:]?\s*",
    re.IGNORECASE,
)
# A leading condition or purpose clause: "If the disk is full, …", "To eliminate a hotspot,
# …", "Using the write dashboard, …", "(One hour before the change) …".
CONDITION = re.compile(
    r"^(?:(?:if|when|once|in case|unless|after|before|for|to|in order to|using|with|on|"
    r"during|while|within|from|at|as|se|si|wenn|falls|caso|quando|cuando|lorsque|para|"
    r"um|pour|mit|com|con)\b[^,:;]{1,120}[,:;]|\([^)]{1,80}\))\s*",
    re.IGNORECASE,
)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
WORD = re.compile(r"[^\W\d_][\w'-]*")
SEPARATOR = re.compile(r"\s*(?::|：|\s[–—-])\s+|：")


def is_command(code: str) -> bool:
    """`systemctl restart worker`, `$ kubectl get pods`, `./fix.sh --all`: something to run
    (two or more words opening with a program name), not a value (`5432`, `/etc/app.conf`,
    `30 s`)."""
    code = code.strip()
    if code.startswith("$ ") and len(code) > 2:
        return True
    words = code.split()
    if len(words) < 2:
        return False
    return bool(re.match(r"^(?:\./|/)?[A-Za-z][\w.+/-]*$", words[0]))


def has_command(text: str) -> bool:
    return any(is_command(m.group(1)) for m in CODE_SPAN.finditer(text))


def _bare(text: str) -> str:
    text = NUMBERING.sub("", MARKUP.sub("", text, count=1)).strip()
    text = text.replace("**", "").replace("__", "")
    for _ in range(2):
        text = OPENER.sub("", text)
        text = CONDITION.sub("", text)
    return text.strip().lstrip("[").strip()  # "[add cluster nodes](…)": a linked verb


def opens_with_verb(text: str) -> bool:
    """The line starts with an imperative verb ("Restart the worker", "Se falhar, reinicie",
    "重启服务")."""
    text = _bare(text)
    if text.startswith(CJK_VERBS):
        return True
    if text.startswith("`") and has_command(text[: text.find("`", 1) + 1]):
        return True  # "`kubectl rollout undo` the deployment"
    match = WORD.match(text)
    if not match:
        return False
    word = match.group(0).lower()
    if word == "log":  # "Log into the dashboard", not "Log retention is 7 days"
        return bool(re.match(r"log\s+(?:in|into|on|onto|out)\b", text, re.IGNORECASE))
    return word in VERBS


def is_step_line(text: str) -> bool:
    """A list item read as a thing to do (rules 1–3 of the module)."""
    head, tail = split_at_separator(text)
    if tail is None:
        return has_command(text) or opens_with_verb(text)
    if has_command(tail):
        return True
    # A verb phrase has an object ("Restart the worker:"); a lone word is a term ("Page:").
    if opens_with_verb(head) and len(WORD.findall(_bare(head))) >= 2:
        return True
    return opens_with_verb(tail)


def split_at_separator(text: str) -> tuple[str, str | None]:
    """("Restart the worker", "`systemctl restart worker`") for a `head: tail` line; the whole
    text and None when it has no separator."""
    match = SEPARATOR.search(text)
    if not match:
        return text, None
    return text[: match.start()], text[match.end():]


def tells_to_do(text: str) -> bool:
    """A prose paragraph that is a task: it names a command, one of its sentences opens with
    an imperative verb (also after an `If …` clause: "If this is the case proceed to …"), or
    it asks the reader to act ("Make sure …", "You should …")."""
    if has_command(text) or ASKS.search(text):
        return True
    return any(
        opens_with_verb(sentence) or conditional_instruction(sentence)
        for sentence in SENTENCE_END.split(text)
    )


SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")
NOT_IMPERATIVE = {
    "i", "you", "we", "it", "they", "he", "she", "this", "that", "will", "would", "can",
    "could", "should", "may", "might", "to", "the", "a", "an", "is", "are", "was", "not",
    "be", "been", "has", "have", "had", "its", "their", "our", "your", "no",
}


def conditional_instruction(sentence: str) -> bool:
    """"If this is the case proceed to the ring page": a condition, then a verb that no
    subject or auxiliary comes before."""
    words = [w.lower() for w in WORD.findall(_bare_start(sentence))]
    if not words or words[0] not in CONDITION_WORDS:
        return False
    return any(
        w in VERBS and words[i - 1] not in NOT_IMPERATIVE for i, w in enumerate(words) if i >= 2
    )


CONDITION_WORDS = {"if", "when", "once", "unless", "se", "si", "wenn", "falls", "caso",
                   "quando", "cuando", "lorsque"}


def _bare_start(text: str) -> str:
    return NUMBERING.sub("", MARKUP.sub("", text, count=1)).replace("**", "").strip()
