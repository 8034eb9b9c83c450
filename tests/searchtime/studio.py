"""Reading Dashboard Studio view files: the XML wrapper and the JSON definition inside its CDATA."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET  # the files are our own, checked in; no untrusted XML here
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Tuple


@dataclass
class StudioView:
    name: str
    root: ET.Element
    definition: Dict

    @classmethod
    def read(cls, path: Path) -> StudioView:
        """Parses the XML and the JSON definition; raises if either is malformed."""
        root = ET.parse(path).getroot()
        node = root.find("definition")
        if node is None or not (node.text or "").strip():
            raise ValueError(f"{path.name}: no <definition> with a JSON body")
        return cls(name=path.stem, root=root, definition=json.loads(node.text))

    def data_sources(self) -> Dict[str, Dict]:
        """{id: data source} of the definition."""
        return self.definition.get("dataSources", {})

    def searches(self) -> Iterator[Tuple[str, str]]:
        """(id, query) of every ds.search."""
        for ds_id, source in self.data_sources().items():
            if source.get("type") == "ds.search":
                yield ds_id, source.get("options", {}).get("query", "")

    def placed_items(self) -> List[str]:
        """Items placed in the layout, across every tab's layout definition (or a classic layout)."""
        layout = self.definition.get("layout", {})
        structures = [layout.get("structure", [])]
        structures += [d.get("structure", []) for d in layout.get("layoutDefinitions", {}).values()]
        return [entry["item"] for structure in structures for entry in structure]
