// Who is online in the room: the `presence` snapshot, then `presence.join` / `presence.leave`
// changes applied only when newer (by `version`) than what is known of that name, since two
// workers' announcements may arrive in either order. Text is only inserted with textContent.
import { paintAvatar } from "./page.js";

const SHOWN = 12; // names listed in the strip; the rest are summed up as "+N"

export function createPresence({ me }) {
  const title = document.getElementById("presence-title");
  const list = document.getElementById("presence-list");
  let members = new Set();
  let unlisted = 0; // present but not named: a big room's snapshot lists only some
  let floor = 0; // the snapshot's version: older changes are already in it
  const versions = new Map(); // name -> version of the last change applied

  function snapshot(event) {
    members = new Set(event.members);
    unlisted = Math.max(0, (event.count ?? members.size) - members.size);
    floor = event.version;
    versions.clear();
    render();
  }

  function change(event) {
    if (event.version <= Math.max(floor, versions.get(event.name) || 0)) return;
    versions.set(event.name, event.version);
    if (event.type === "presence.join") members.add(event.name);
    else if (!members.delete(event.name)) unlisted = Math.max(0, unlisted - 1);
    render();
  }

  // A room too big to list its names says only how many there are.
  function count(event) {
    if (event.version <= floor) return;
    floor = event.version;
    unlisted = Math.max(0, event.count - members.size);
    render();
  }

  function render() {
    const self = me();
    // You first, then everyone else alphabetically.
    const names = [...members].sort((a, b) => {
      if (a === self || b === self) return a === self ? -1 : 1;
      return a.localeCompare(b, undefined, { sensitivity: "base" });
    });
    const online = names.length + unlisted;
    title.textContent = `${online} online`;
    const items = names.slice(0, SHOWN).map((who) => {
      const item = document.createElement("li");
      item.className = "person";
      const avatar = document.createElement("span");
      avatar.className = "avatar small";
      avatar.setAttribute("aria-hidden", "true");
      paintAvatar(avatar, who);
      const label = document.createElement("span");
      label.className = "person-name";
      label.textContent = who === self ? `${who} (you)` : who;
      item.append(avatar, label);
      return item;
    });
    if (online > SHOWN) {
      const more = document.createElement("li");
      more.className = "person more";
      more.textContent = `+${online - SHOWN} more`;
      more.title = names.slice(SHOWN).join(", ");
      items.push(more);
    }
    list.replaceChildren(...items);
  }

  return { snapshot, change, count, names: () => [...members] };
}
