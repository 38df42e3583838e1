// Who this page chats as: the name remembered on this device (or the account's), shown in
// the header, and the dialog that asks for one. Text is only ever inserted with textContent.
import { $, account, length, maxName, paintAvatar } from "./page.js";

const NAME_KEY = "chatsite.name";

// Storage can be unavailable (privacy modes, full quota); the page then just asks again.
function remembered() {
  try {
    return localStorage.getItem(NAME_KEY) || "";
  } catch (err) {
    return "";
  }
}

function remember(value) {
  try {
    if (value) localStorage.setItem(NAME_KEY, value);
    else localStorage.removeItem(NAME_KEY);
  } catch (err) {
    // nothing to do: the name only lasts as long as the page
  }
}

function nameProblem(value) {
  const trimmed = value.trim();
  if (!trimmed) return "Enter a name.";
  if (length(trimmed) > maxName) return `Names are at most ${maxName} characters.`;
  if (/[\u0000-\u001f\u007f-\u009f]/.test(trimmed)) return "Names cannot contain control characters.";
  return null;
}

// `online()`: whether the page is connected; `chosen()`: a new name was picked (connect
// under it); `closed()`: the dialog closed.
export function createName({ online, chosen, closed }) {
  const me = $("me");
  const meAvatar = $("me-avatar");
  const who = $("who");
  const changeName = $("change-name");
  const dialog = $("name-dialog");
  const form = $("name-form");
  const input = $("name");
  const error = $("name-error");
  const cancel = $("name-cancel");
  let name = account || remembered();

  function show() {
    me.textContent = name;
    paintAvatar(meAvatar, name || "?");
    who.hidden = !name;
    changeName.hidden = Boolean(account);
  }

  function ask(problem, value) {
    input.value = value === undefined ? name : value;
    error.textContent = problem || "";
    error.hidden = !problem;
    input.setAttribute("aria-invalid", problem ? "true" : "false");
    cancel.hidden = !(name && online());
    if (!dialog.open) dialog.showModal();
    input.focus();
    input.select();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const problem = nameProblem(input.value);
    if (problem) {
      ask(problem, input.value);
      return;
    }
    const picked = input.value.trim();
    dialog.close();
    if (picked === name && online()) return;
    name = picked;
    remember(name);
    show();
    chosen();
  });

  cancel.addEventListener("click", () => dialog.close());

  dialog.addEventListener("cancel", (event) => {
    if (!(name && online())) event.preventDefault(); // a name is needed to chat
  });

  dialog.addEventListener("close", closed);

  changeName.addEventListener("click", () => ask(null));

  // The server may say the name differently (as it stored it): shown as the server has it.
  function welcomed(given) {
    if (given && given !== name) {
      name = given;
      show();
    }
  }

  // The server refused the name (invalid, or an account's): forgotten, and asked for again.
  function refused(problem) {
    const old = name;
    name = "";
    remember("");
    show();
    ask(problem, old);
  }

  // At load: true when the page has a usable name to connect with; else it asks for one.
  function start() {
    if (nameProblem(name)) {
      name = "";
      show();
      ask(null);
      return false;
    }
    show();
    return true;
  }

  return {
    get name() {
      return name;
    },
    welcomed,
    refused,
    start,
  };
}
