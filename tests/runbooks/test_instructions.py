"""Steps versus definitions and tasks versus description (runbooks/instructions.py), on lines
and on whole runbooks."""

from __future__ import annotations

import pytest

from runbooks.instructions import is_command, is_step_line, tells_to_do
from runbooks.parser import parse_runbook
from runbooks.steps import checklist_steps
from runbooks.units import is_definition, sections


def units(text: str) -> dict[str, dict]:
    tree, _ = parse_runbook(text, "t")
    return {
        s["title"]: s for s in [tree, *sections(tree)] if s["kind"] in ("scenario", "procedure")
    }


def texts(node: dict) -> list[str]:
    return [s["text"] for s in checklist_steps(node)]


def item(text: str) -> dict:
    return {"text": text, "code": []}


@pytest.mark.parametrize(
    "text",
    [
        # An imperative verb phrase, a colon, then the command.
        "Restart the worker: `systemctl restart worker`",
        "Count the queue: `redis-cli llen jobs`",
        "**Drain the node**: `kubectl drain node-1 --ignore-daemonsets`",
        # ... or an instruction after the colon.
        "Check the logs: look for OOM kills in the last hour",
        "Queue full: restart the worker",
        "Page the on-call - they own the broker",
        # A command after the separator whatever the language (German infinitive last).
        "Worker neu starten: `systemctl restart worker`",
        "Fila cheia: `systemctl restart worker`",
        # Imperative verbs in other languages.
        "Reinicie o worker: o serviço volta em segundos",
        "Vérifiez le disque : il doit rester 10 % libre",
        "重启服务：`systemctl restart api`",
    ],
)
def test_a_verb_phrase_or_a_command_before_or_after_the_colon_is_a_step(text):
    assert is_step_line(text)
    assert not is_definition(item(text))


@pytest.mark.parametrize(
    "text",
    [
        "**Closed**: normal operation",
        "`stripe` - payments and invoices",
        "Max retries: 5",
        "Port: `5432`",
        "Config file: `/etc/app.conf`",
        "Page: the status page everyone reads",  # one word before the colon is a term
        "Primary: the node that takes writes",
        "**Fechado**: operação normal",
        "Hauptknoten: der Knoten, der Schreibzugriffe annimmt",
    ],
)
def test_a_term_and_its_explanation_is_a_definition(text):
    assert not is_step_line(text)
    assert is_definition(item(text))


@pytest.mark.parametrize(
    "code,expected",
    [
        ("systemctl restart worker", True),
        ("$ kubectl get pods", True),
        ("./fix.sh --all", True),
        ("5432", False),
        ("/etc/app.conf", False),
        ("30 s", False),
        ("DATABASE_URL", False),
    ],
)
def test_a_command_is_two_or_more_words_opening_with_a_program(code, expected):
    assert is_command(code) is expected


@pytest.mark.parametrize(
    "text",
    [
        "Restart the pods if the queue keeps growing.",
        "The queue drains slowly. Then restart the consumer.",
        "If this is the case proceed to the ring admin page and forget the ruler.",
        "If the disk is full, increase the volume size.",
        "Make sure the replica has caught up before you promote it.",
        "The worker recovers after `systemctl restart worker` is run.",
        "Reinicie o serviço se a fila continuar crescendo.",
        "Wenn der Speicher voll ist, bitte das Volume vergrößern.",
        "确认主库已经停止写入。",
        # A purpose or setting clause before the verb; a linked verb; "Alternatively, …".
        "To eliminate a hotspot caused by the schema, review the key design.",
        "Using the write dashboard, find the cluster that reports the latency.",
        "For a quick fix, either [add nodes](add.md) or lower the concurrency.",
        "(One hour before the change) stop the batch jobs.",
        "Alternatively, drain the node before shutting it down.",
        "Para liberar espaço, remova os logs antigos.",
        "Log into the vendor dashboard and keep the old key active.",
    ],
)
def test_prose_that_tells_the_reader_to_act_is_a_task(text):
    assert tells_to_do(text)


@pytest.mark.parametrize(
    "text",
    [
        "Nothing here is urgent.",
        "This alert fires when the queue is longer than ten thousand jobs.",
        "The worker usually recovers on its own within a minute.",
        "If the disk is full the write will fail.",
        "Este alerta indica que a fila está crescendo.",
        "Der Alarm zeigt an, dass die Warteschlange wächst.",
        "Log retention is seven days.",
    ],
)
def test_description_is_not_a_task(text):
    assert not tells_to_do(text)


QUEUE = """# Queue service runbook

## Worker stuck

**Symptoms:**
- Jobs pile up in the default queue

**Diagnosis:**
1. Count the queue: `redis-cli llen jobs`
2. Inspect the worker: `journalctl -u worker -n 100`

**Resolution:**
1. Restart the worker: `systemctl restart worker`

## Maintenance

Nothing here is urgent.

## Terms

- **Lease**: how long a job is held by one worker
- **Dead letter**: the queue failed jobs go to
"""


def test_a_unit_whose_steps_are_all_verb_colon_command_keeps_them():
    found = units(QUEUE)
    assert set(found) == {"Worker stuck"}
    assert texts(found["Worker stuck"]) == [
        "Count the queue: `redis-cli llen jobs`",
        "Inspect the worker: `journalctl -u worker -n 100`",
        "Restart the worker: `systemctl restart worker`",
    ]


FILA = """# Fila de trabalhos

## Worker travado

**Sintomas:**
- Os trabalhos se acumulam na fila

**Diagnóstico:**
1. Contar a fila: `redis-cli llen jobs`

**Resolução:**
1. Reiniciar o worker: `systemctl restart worker`

## Observações

Nada aqui é urgente.
"""


def test_the_command_rule_holds_in_another_language():
    found = units(FILA)
    assert set(found) == {"Worker travado"}
    assert texts(found["Worker travado"]) == [
        "Contar a fila: `redis-cli llen jobs`",
        "Reiniciar o worker: `systemctl restart worker`",
    ]


def test_a_short_description_does_not_make_a_section_a_procedure():
    tree, _ = parse_runbook("# Notes\n\n## Maintenance\n\nNothing here is urgent.\n", "t")
    assert [s["title"] for s in sections(tree) if s["kind"] in ("scenario", "procedure")] == []
    # A paragraph that tells the reader to act is a procedure's one step.
    tree, _ = parse_runbook(
        "# Notes\n\n## Weekly vacuum\n\nRun `vacuumdb --all --analyze` every Sunday night.\n",
        "t",
    )
    [unit] = [s for s in sections(tree) if s["kind"] == "procedure"]
    assert unit["title"] == "Weekly vacuum"
    assert texts(unit) == ["Run `vacuumdb --all --analyze` every Sunday night."]


def test_a_paragraph_introducing_a_code_block_is_the_step_holding_it():
    text = """# Notes

## Clone the volume

When using Kubernetes, here is the manifest that creates the volume:

```yaml
kind: PersistentVolume
```

The clone takes a few minutes on large disks.
"""
    [unit] = units(text).values()
    [step] = checklist_steps(unit)
    assert step["text"].startswith("When using Kubernetes, here is the manifest")
    assert step["code"][0]["content"] == "kind: PersistentVolume\n"


def test_a_generic_process_outline_on_an_index_is_not_a_unit():
    index = """# Platform runbooks

- [Disk full](disk-full.md)
- [Broker down](broker-down.md)

## Incident Response Process

1. **Acknowledge** - claim the incident
2. **Assess** - determine scope and impact
3. **Resolve** - implement the fix
"""
    assert units(index) == {}
