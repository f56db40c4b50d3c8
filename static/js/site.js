// Runs in <head>: marks the page as scripted so CSS shows loading texts
// (which a script will replace) and hides the links meant for readers without JavaScript.
document.documentElement.classList.replace("no-js", "js");
