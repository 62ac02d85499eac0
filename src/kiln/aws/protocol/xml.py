"""XML <-> model values, following the naming rules botocore's XML parsers use."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from botocore.model import Shape

from kiln.aws.errors import error
from kiln.aws.protocol.shapes import from_text, to_text

MalformedXML = error("MalformedXML")


def member_key(shape: Shape, member_name: str) -> str:
    """The element name of a structure member (botocore's `_member_key_name`)."""
    if shape.type_name == "list" and shape.serialization.get("flattened"):
        inner = shape.member.serialization.get("name")
        if inner:
            return str(inner)
    return str(shape.serialization.get("name", member_name))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def decode(shape: Shape, node: ET.Element, where: str = "") -> Any:
    match shape.type_name:
        case "structure":
            out: dict[str, Any] = {}
            children: dict[str, list[ET.Element]] = {}
            for child in node:
                children.setdefault(_local(child.tag), []).append(child)
            for name, member in shape.members.items():
                if member.serialization.get("xmlAttribute"):
                    attr = _local(member.serialization.get("name", name)).rpartition(":")[2]  # xsi:type
                    for k, v in node.attrib.items():
                        if _local(k) == attr:
                            out[name] = from_text(member, v, f"{where}.{name}")
                    continue
                found = children.get(member_key(member, name))
                if not found and member.type_name == "list" and member.serialization.get("flattened"):
                    # botocore's serializer names flattened items after the structure member
                    found = children.get(str(member.serialization.get("name", name)))
                if not found:
                    continue
                if member.type_name == "list" and member.serialization.get("flattened"):
                    out[name] = [decode(member.member, c, f"{where}.{name}") for c in found]
                elif member.type_name == "map" and member.serialization.get("flattened"):
                    out[name] = _decode_entries(member, found, where)
                else:
                    out[name] = decode(member, found[0], f"{where}.{name}")
            return out
        case "list":
            item = shape.member.serialization.get("name", "member")
            return [decode(shape.member, c, where) for c in node if _local(c.tag) == item]
        case "map":
            return _decode_entries(shape, [c for c in node if _local(c.tag) == "entry"], where)
        case _:
            return from_text(shape, node.text or "", where or node.tag)


def _decode_entries(shape: Shape, entries: list[ET.Element], where: str) -> dict[str, Any]:
    kname = shape.key.serialization.get("name", "key")
    vname = shape.value.serialization.get("name", "value")
    out: dict[str, Any] = {}
    for e in entries:
        k = next((c for c in e if _local(c.tag) == kname), None)
        v = next((c for c in e if _local(c.tag) == vname), None)
        if k is not None and v is not None:
            out[k.text or ""] = decode(shape.value, v, where)
    return out


def parse_document(body: bytes) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise MalformedXML("The XML you provided was not well-formed or did not validate against our "
                           "published schema") from exc


def encode_into(parent: ET.Element, shape: Shape, value: Any, name: str) -> None:
    """Append `value` as element(s) called `name` under `parent`."""
    if value is None:
        return
    match shape.type_name:
        case "structure":
            node = ET.SubElement(parent, name)
            encode_members(node, shape, value)
        case "list":
            if shape.serialization.get("flattened"):
                for v in value:
                    encode_into(parent, shape.member, v, name)
            else:
                node = ET.SubElement(parent, name)
                item = shape.member.serialization.get("name", "member")
                for v in value:
                    encode_into(node, shape.member, v, item)
        case "map":
            kname = shape.key.serialization.get("name", "key")
            vname = shape.value.serialization.get("name", "value")
            flat = shape.serialization.get("flattened")
            holder = parent if flat else ET.SubElement(parent, name)
            for k, v in value.items():
                entry = ET.SubElement(holder, name if flat else "entry")
                ET.SubElement(entry, kname).text = str(k)
                encode_into(entry, shape.value, v, vname)
        case _:
            ET.SubElement(parent, name).text = to_text(shape, value)


def encode_members(node: ET.Element, shape: Shape, value: dict[str, Any]) -> None:
    namespace = shape.serialization.get("xmlNamespace")
    if isinstance(namespace, dict) and namespace.get("prefix"):  # declares the prefix of `xsi:type`
        node.set(f"xmlns:{namespace['prefix']}", namespace["uri"])
    for mname, member in shape.members.items():
        item = value.get(mname)
        if item is None or member.serialization.get("location"):
            continue
        if member.serialization.get("xmlAttribute"):
            node.set(member.serialization.get("name", mname), to_text(member, item))
            continue
        encode_into(node, member, item, member_key(member, mname))


def to_bytes(root: ET.Element) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def encode_fields(node: ET.Element, shape: Shape | None, fields: dict[str, Any]) -> None:
    """An error's extra fields as elements: modelled ones by their shapes, others as text."""
    modelled = {k: v for k, v in fields.items() if shape is not None and k in shape.members
                and k not in ("Message", "message")}
    located = {k for k in modelled if shape is not None and shape.members[k].serialization.get("location")}
    if shape is not None and modelled:
        encode_members(node, shape, modelled)
    for k, v in fields.items():
        if k not in modelled and k not in located and v is not None:
            ET.SubElement(node, k).text = str(v)
