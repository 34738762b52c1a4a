module rmount/agent

go 1.19
